/** The indexer process (`--help` lists its variables). */
import { runService } from '../../libs/common/service.js';
import { indexerService } from './service.js';

runService(indexerService);
