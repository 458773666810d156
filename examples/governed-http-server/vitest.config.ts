import { ordoProject } from '../../vitest.shared.js';

export default ordoProject('example-governed-http-server');
