/**
 * Test helpers: `@ordo/contracts/testing`. Import them in tests only.
 * @packageDocumentation
 */
export { heapSizeLimitFor } from './heapSizeLimit.js';
export { killProcess, killProcesses } from './killProcess.js';
export { ManualClock } from './manualClock.js';
export { processAlive } from './processAlive.js';
export { type LogRecord, RecordingLogger } from './recordingLogger.js';
