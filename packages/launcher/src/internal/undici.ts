import { lazyModule } from '@ordo/contracts';
import type * as Undici from 'undici';

/**
 * undici, loaded on first use and kept: importing it costs about 19 MB of RSS, which a process that never
 * calls the Engine API (a run on subprocess workers) should not pay.
 */
export const undici = lazyModule<typeof Undici>(import.meta.url, 'undici');
