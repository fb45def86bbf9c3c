import { Command, Option } from 'commander';
import { backbonesCommand } from './commands/backbones.js';
import { benchCommand } from './commands/bench.js';
import { dataCommand } from './commands/data.js';
import { evalCommand } from './commands/eval.js';
import { prepareCommand } from './commands/prepare.js';
import { reportCommand } from './commands/report.js';
import { sweepCommand } from './commands/sweep.js';
import { trainCommand } from './commands/train.js';
import { workerCommand } from './commands/worker.js';
import { serveSteps } from './bench/step-server.js';
import { parseAcceleratorFlag, parseThreadsFlag } from './setup.js';

declare const __FERMIX_VERSION__: string | undefined;

/** The `fermix` command line; `--help` on it and on each command is the manual. */
export function createProgram(run: (code: Promise<number>) => void): Command {
  const program = new Command('fermix')
    .description('Train image classifiers on TensorFlow.js with Mixup, MixAugment, flipping and dropout, composed from a YAML config.')
    .version(typeof __FERMIX_VERSION__ === 'string' ? __FERMIX_VERSION__ : '0.1.0')
    .showHelpAfterError('(run fermix --help, or fermix <command> --help)');

  program
    .command('train')
    .description('train a model as the config says; writes a run folder (config.yaml, log.jsonl, metrics.json, checkpoints/)')
    .option('-c, --config <file>', 'config file (default: fermix.config.yaml or .fermixrc.yaml, searched from here upward; none: synthetic quickstart data)')
    .option('-o, --out <dir>', 'run folder (default: a new folder under ./runs)')
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option('--threads <n|auto>', "threads of the wasm backend (default: the config's threads, else auto: every core, or the share fermix sweep gives each run)")
    .option('--accelerator <name>', "none, or onnxruntime: the wasm backend's convolutions on ONNX Runtime's native kernels (needs @fermix/accel-onnxruntime; default: the config's accelerator)")
    .option('--dry-run', 'check everything a run needs (config, plugins, data index, model) and stop before training; decodes no image, writes nothing')
    .addHelpText(
      'after',
      '\nExamples:\n  fermix train -c examples/quickstart/fermix.config.yaml\n  fermix train -c my.yaml --out runs/exp1\n  fermix train -c my.yaml --out runs/exp1 --resume    # after Ctrl-C or a crash\n  fermix train -c my.yaml --dry-run                   # check the config, data and model, train nothing',
    )
    .action((opts) => run(trainCommand(opts)));

  program
    .command('eval')
    .description("evaluate a checkpoint on a split of the config's data: accuracy, macro F1, average accuracy, per class, confusion matrix")
    .option('-c, --config <file>', 'config the checkpoint was trained with (e.g. <run>/config.yaml)')
    .requiredOption('--checkpoint <dir>', 'checkpoint folder, e.g. <run>/checkpoints/best')
    .option('--split <name>', 'split to evaluate (default: data.testSplit)')
    .option('--threads <n|auto>', "threads of the wasm backend (default: the config's threads, else every core)")
    .option('--accelerator <name>', "none, or onnxruntime (needs @fermix/accel-onnxruntime; default: the config's accelerator)")
    .option('--tta <list>', "test-time augmentation: flip (average each image's and its mirror's probabilities) or none (default: the config's eval.tta)")
    .addOption(new Option('--json <file>', 'also write the metrics as JSON'))
    .action((opts) => run(evalCommand(opts)));

  program
    .command('data')
    .description("count the samples of each split and class of the config's data; report missing (with --check, unreadable) images; exit 1 if any")
    .option('-c, --config <file>', 'config file (default: searched as for train)')
    .option('--json', 'print { "splits": { "<split>": { "<class>": n } }, "missing", "unreadable" } on stdout')
    .option('--check', 'also decode every image to find unreadable files (slow on big datasets)')
    .action((opts) => run(dataCommand(opts)));

  program
    .command('prepare')
    .description('align the faces of the config\'s data (data.align) once and write the aligned copy as an image folder <out>/<split>/<class>/*.png, with prepare.json (counts, images not aligned) and fermix.config.yaml to train on it')
    .option('-c, --config <file>', 'config file with data.align (default: searched as for train)')
    .requiredOption('-o, --out <dir>', 'folder for the aligned copy; must be new or empty')
    .option('--force', 'replace an earlier fermix prepare output in --out (a folder with prepare.json; nothing else is ever replaced)')
    .addHelpText('after', '\nExample:\n  fermix prepare -c raf.yaml --out data/raf-aligned-100\n  fermix train -c data/raf-aligned-100/fermix.config.yaml')
    .action((opts) => run(prepareCommand(opts)));

  program
    .command('bench')
    .description('measure training speed on this machine: step times per backend and backbone, step/forward, backward kernels vs matmul, augmentation and framework overhead, data wait, memory growth, cores; tables on stdout, optional JSON')
    .option('--quick', 'small CNN and ResNet18 (64x64) on the fastest backend, few steps: about 4 minutes on 2 cores')
    .option('--json <file>', 'also write the report as JSON (stable keys, schema fermix-bench/3)')
    .option('--backends <list>', 'comma-separated tensorflow,wasm,cpu (default: all that load; no cpu with --quick)')
    .option('--models <list>', 'comma-separated backbones (default small-cnn,resnet18,resnet50; no resnet50 with --quick)')
    .option('--steps <n>', 'timed repetitions of every loop (default: per mode, see docs/bench.md)')
    .option('--warmup <n>', 'untimed warm-up repetitions of every loop (default: per mode)')
    .option('--batch <n>', 'batch size of every measurement', '32')
    .option('--data <dir>', 'image folder for the small-CNN batches and the decoding figure, or "synthetic" (default: $FERMIX_BENCH_DATA, else ../shared/data/fer2013-mini)')
    .option('--no-parallel', 'skip timing two trainings side by side against one (separate processes, as fermix sweep --parallel 2)')
    .option('--threads <n|auto>', 'threads of the wasm backend for the measurements (default auto: every core); the thread-scaling figure always compares 1 with this')
    .option('--no-scaling', 'skip the thread-scaling figure (all threads against 1, in two step-server processes)')
    .option('--no-accelerator', 'skip timing @fermix/accel-onnxruntime against wasm alone (measured when the package is installed)')
    .addHelpText('after', '\nExamples:\n  fermix bench --quick\n  fermix bench --json bench.json\n  fermix bench --backends wasm --models small-cnn,resnet18 --json runs/bench.json\n\nWhat each figure means: docs/bench.md')
    .action((opts) => run(benchCommand(opts)));

  program
    .command('sweep')
    .description('run every combination of a grid (method x alpha x dropout x seed x any config path), each run its own folder and process; started again, it skips finished runs and resumes the unfinished one from its checkpoint')
    .requiredOption('-c, --config <file>', 'sweep file: base config + grid (see examples/paper)')
    .option('-o, --out <dir>', "sweep folder (default: the sweep file's out:, else runs/<sweep file name>)")
    .option('-p, --parallel <n>', "runs at once, each a separate process (default: the sweep file's parallel:, else 1)")
    .option('--gpus <list>', 'pin runs to these GPUs, e.g. 0,1: run slot k of --parallel uses the k-th, round-robin (CUDA_VISIBLE_DEVICES); every run also gets TF_FORCE_GPU_ALLOW_GROWTH=true unless you set it')
    .option('--dry-run', 'list the runs and their folder names, run nothing')
    .option('--queue <url>', 'redis://[:password@]host:6379/0 (or rediss:// for TLS): enqueue the unfinished runs as jobs for `fermix worker`s instead of running them here; the out folder must be on storage every worker sees')
    .option('--status', "with --queue: each run waiting, active (which worker, which epoch), finished or failed; updates sweep.json")
    .option('--max-attempts <n>', 'with --queue: attempts of a failing run before it is marked failed', '3')
    .option('--backoff <seconds>', 'with --queue: wait before the first retry of a failed run, doubled for each next one', '30')
    .addHelpText(
      'after',
      '\nExamples:\n  fermix sweep -c examples/paper/fer2013-mini-cpu.sweep.yaml --parallel 2\n  fermix sweep -c my.sweep.yaml --parallel 2 --gpus 0,1\n  fermix sweep -c my.sweep.yaml --dry-run\n  fermix report runs/fer2013-mini-cpu\n' +
        '  fermix sweep -c my.sweep.yaml --queue redis://queue-host:6379/0          # then fermix worker on each machine\n' +
        '  fermix sweep -c my.sweep.yaml --queue redis://queue-host:6379/0 --status\n\nThe password of the queue: in the URL or in FERMIX_REDIS_PASSWORD.',
    )
    .action((opts) => run(sweepCommand(opts)));

  program
    .command('worker')
    .description("run queued sweep runs (fermix sweep --queue) until Ctrl-C, each as its own fermix train process writing the sweep's shared out folder; a run that was stopped elsewhere resumes from its last checkpoint")
    .requiredOption('--queue <url>', 'redis://[:password@]host:6379/0 or rediss://... (TLS); the password may come from FERMIX_REDIS_PASSWORD instead')
    .option('--concurrency <n>', "runs at once on this machine, sharing its cores (each run's FERMIX_THREADS)", '1')
    .option('--name <name>', 'how --status names this worker (default: host:pid)')
    .option('--lock-seconds <s>', "how long a run stays with a worker that stopped answering (killed, frozen, cut off) before another worker takes it over", '30')
    .addHelpText('after', '\nExamples:\n  fermix worker --queue redis://queue-host:6379/0 --concurrency 2\n  FERMIX_REDIS_PASSWORD=... fermix worker --queue rediss://queue-host:6380/0\n\nCtrl-C stops the runs after their current step and puts their jobs back in the queue.')
    .action((opts) => run(workerCommand(opts)));

  program
    .command('report')
    .description("the paper's tables (2-6) from the runs in a run or sweep folder: report.md, one CSV per table, and report.html (curves, confusion matrices, per-class bars, mixed samples; opens offline)")
    .argument('<folder>', 'a run folder, or a folder whose subfolders (or their subfolders) are run folders, e.g. a sweep')
    .option('-o, --out <dir>', 'output folder (default: <folder>/report)')
    .option('--compare <method>', 'the method Table 5 compares with vanilla, e.g. mixaugment+flip (default: the best non-vanilla method)')
    .addHelpText('after', '\nExamples:\n  fermix report runs/sweep\n  fermix report runs/sweep --compare mixup --out reports/mixup')
    .action((folder, opts) => run(reportCommand(folder, opts)));

  program
    .command('step-server', { hidden: true })
    .description('time one training step per request, JSON lines on stdin/stdout (for benchmarks that interleave processes: fermix bench, scripts/bench-anchor)')
    .option('--backend <name>', 'backend: auto, gpu, tensorflow, wasm or cpu', 'wasm')
    .option('--threads <n|auto>', 'threads of the wasm backend', 'auto')
    .option('--accelerator <name>', 'none or onnxruntime', 'none')
    .action((opts) => run(serveSteps({ backend: opts.backend, threads: parseThreadsFlag(opts.threads), accelerator: parseAcceleratorFlag(opts.accelerator) })));

  program
    .command('backbones')
    .description('list the registered backbones with their parameter counts, with and without the classifier (7 classes)')
    .option('--size <pixels>', 'input size', '100')
    .option('--json', 'print JSON: [{ name, params, paramsNoTop }]')
    .option('--weights <name>', 'with --check: imagenet, the keras.applications ImageNet files')
    .option('--check', "with --weights imagenet: each Keras file's layers against fermix's model, both ways (offline; exit code 1 on a difference)")
    .action((opts) => run(backbonesCommand(opts)));

  return program;
}
