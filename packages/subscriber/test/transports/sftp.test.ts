import { createSftpTransport } from '../../src/transports/index.js';
import { overSsh } from '../fixtures/ssh.js';
import { runTransportConformance } from './conformance.js';

runTransportConformance('sftp', overSsh((ssh, helperCommand) => createSftpTransport({ ...ssh, helperCommand, requireHelper: true })));
