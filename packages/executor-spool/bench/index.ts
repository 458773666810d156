import './spool.js';
