/** The auth service process (`--help` lists its variables). */
import { runService } from '../../libs/common/service.js';
import { authService } from './service.js';

runService(authService);
