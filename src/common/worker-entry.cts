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
let handler: Promise<TaskHandler> | undefined;

export = function runTask(task: unknown): Promise<unknown> {
  handler ??= import(workerModule).then((loaded: { default: TaskHandler }) => loaded.default);
  return handler.then((run) => run(task));
};
