/** Messages we recieve, newest first. */
export const inbox = [];

/** Call this when you recieve a message. */
export function recieve(message) {
  inbox.unshift(message);
}
