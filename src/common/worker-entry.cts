/**
 * The file piscina starts in every worker thread; it loads the real (ESM) worker module with import().
 *
 * Why CommonJS: piscina loads its worker file with require() first. On Node 20.19+ that reaches
 * require(esm) for our ESM workers, which aborted whole test runs here with a V8 fatal error
 * ("v8::Module::IsGraphAsync must be used on an instantiated module"). require() of this CommonJS file is
 * harmless, and import() is the loader ESM was made for.
 */
import piscina = require('piscina');

type TaskHandler = (task: unknown) => unknown;

const { module: workerModule } = piscina.workerData as { module: string };
// Loaded as the thread starts, not on its first task: a pool warmed up while the main thread walks the
// source is then ready to copy at once.
const handler: Promise<TaskHandler> = import(workerModule).then((loaded: { default: TaskHandler }) => loaded.default);

export = function runTask(task: unknown): Promise<unknown> {
  return handler.then((run) => run(task));
};
