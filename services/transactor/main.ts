/** The transactor process for one pool (`--help` lists its variables). */
import { runService } from '../../libs/common/service.js';
import { transactorService } from './service.js';

runService(transactorService);
