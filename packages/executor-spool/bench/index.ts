import { benchFetch } from './fetch.js';
import { benchShell } from './shell.js';

const only = process.argv[2];
if (only !== 'fetch') await benchShell();
if (only !== 'shell') await benchFetch();
