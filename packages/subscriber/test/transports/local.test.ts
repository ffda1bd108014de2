import { createLocalTransport } from '../../src/transports/index.js';
import { runTransportConformance } from './conformance.js';

runTransportConformance('local', async () => createLocalTransport());
