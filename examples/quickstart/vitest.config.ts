import { ordoProject } from '../../vitest.shared.js';

export default ordoProject('example-quickstart');
