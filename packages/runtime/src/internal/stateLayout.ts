/** The state directory, relative to the workspace, when none is given. */
export const DEFAULT_STATE_DIR = '.ordo';

/** The state file inside the state dir. */
export const STATE_FILE = 'state.json';
