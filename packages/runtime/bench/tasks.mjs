// The bench's I/O-bound task: sleeps `input.ms` inside the worker, then writes one file.
export default async function sleepWrite({ input, signal }) {
  await new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, input.ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
  return [{ path: input.path, content: `${input.path}\n` }];
}
