import { createRsyncTransport } from '../../src/transports/index.js';
import { overSsh } from '../fixtures/ssh.js';
import { runTransportConformance } from './conformance.js';

runTransportConformance('rsync', overSsh((ssh, helperCommand) => createRsyncTransport({ ...ssh, helperCommand })));
