/** The consensus service process; any number of replicas (`--help` lists its variables). */
import { runService } from '../../libs/common/service.js';
import { consensusService } from './service.js';

runService(consensusService);
