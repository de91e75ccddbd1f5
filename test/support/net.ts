export { freePort } from '../../libs/common/net.js';
