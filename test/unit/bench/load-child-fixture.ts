// A forked child for load-child.test.ts: answers the parent the way the bench's load children do.
type Request = { type: 'work' } | { type: 'fail' } | { type: 'hang' } | { type: 'exit' };

const send = (message: object): void => {
  process.send?.(message);
};

process.on('message', (request: Request) => {
  switch (request.type) {
    case 'work':
      send({ type: 'progress', line: 'working' });
      send({ type: 'result', value: 42 });
      break;
    case 'fail':
      send({ type: 'error', message: 'asked to fail' });
      break;
    case 'hang':
      break;
    case 'exit':
      process.exit(7);
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
