import { chaosSuite } from './chaos-suite.js';

chaosSuite(1);
