// A module task: the worker imports this file and calls its default export with the task's context.
// It returns edits (path + new content, or null to delete); the runtime stages, checks and commits them.

/**
 * Appends a `farewell` function to src/greet.js, with the greeting the plan passes as `input`.
 * @param {import('@ordo/runtime/worker').ModuleTaskContext} context
 */
export default async function addFarewell({ read, input }) {
  const source = (await read('src/greet.js')) ?? '';
  const greeting = input?.greeting ?? 'Goodbye';
  const farewell = `\n/** Says goodbye. */\nexport function farewell(name) {\n  return \`${greeting}, \${name}!\`;\n}\n`;
  return [{ path: 'src/greet.js', content: source + farewell }];
}
