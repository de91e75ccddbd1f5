/** The capture service process (`--help` lists its variables). */
import { runService } from '../../libs/common/service.js';
import { captureService } from './service.js';

runService(captureService);
