/**
 * The book's CNN trained in PyTorch, for `npm run bench -- --peer pytorch`: the side-by-side figure
 * the wasm trainer is judged by. It runs Debian's python3-torch under /usr/bin/python3 when that
 * imports torch; PyTorch is never a dependency of the project, and its absence is a skipped row,
 * not an error.
 *
 * The same architecture as model.ts (NCHW, PyTorch's native layout), Adam with Keras's defaults,
 * the same batch size, warm-up and number of timed steps as the wasm rows; each step reads its
 * loss (`.item()`), as the wasm rows read theirs. The images are random: a step's cost does not
 * depend on the values, and the peer needs no dataset reader of its own.
 */
import { spawn } from 'node:child_process';

/** Debian's interpreter, not the first python3 on PATH (a venv's may lack or shadow torch). */
export const PEER_PYTHON = '/usr/bin/python3';

export interface PeerRow {
  peer: 'pytorch';
  version: string;
  threads: number;
  batch_size: number;
  samples: number;
  seconds: number;
  samples_per_s: number;
}

export interface PeerSkipped {
  peer: 'pytorch';
  skipped: string;
}

const SCRIPT = String.raw`
import json, sys, time
try:
    import torch
    from torch import nn
except ImportError as e:
    print(json.dumps({"skipped": str(e)}))
    sys.exit(0)
threads, batch, steps, warmup = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(42)
model = nn.Sequential(
    nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 7 * 7, 100), nn.ReLU(), nn.Dropout(0.4), nn.Linear(100, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
loss_fn = nn.CrossEntropyLoss()
images = torch.rand(4096, 1, 28, 28)
labels = torch.randint(0, 10, (4096,))
order = torch.randperm(4096)
model.train()
def step(i):
    idx = order[torch.arange(i * batch, (i + 1) * batch) % 4096]
    opt.zero_grad()
    loss = loss_fn(model(images[idx]), labels[idx])
    loss.backward()
    opt.step()
    return loss.item()
for i in range(warmup):
    step(i)
t0 = time.perf_counter()
for i in range(steps):
    step(warmup + i)
seconds = time.perf_counter() - t0
print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads(), "seconds": seconds}))
`;

/** Trains `steps` batches after `warmup` in PyTorch with `threads` threads; a skipped row when torch is not importable. */
export function runPytorchPeer(threads: number, batchSize: number, steps: number, warmup: number): Promise<PeerRow | PeerSkipped> {
  return new Promise((resolve) => {
    const child = spawn(PEER_PYTHON, ['-c', SCRIPT, String(threads), String(batchSize), String(steps), String(warmup)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const absent = (why: string): PeerSkipped => ({
      peer: 'pytorch',
      skipped: `${why} (Debian: apt-get install python3-torch; PyTorch is never a dependency of cnn-lens)`,
    });
    child.on('error', (e) => resolve(absent(`${PEER_PYTHON} did not start: ${e.message}`)));
    child.on('close', (code) => {
      let parsed: { skipped?: string; version?: string; threads?: number; seconds?: number } | undefined;
      try {
        parsed = JSON.parse(out.trim().split('\n').at(-1) ?? '') as typeof parsed;
      } catch {
        parsed = undefined;
      }
      if (code !== 0 || !parsed) {
        resolve(absent(`${PEER_PYTHON} failed (exit ${code}): ${err.trim().split('\n').at(-1) ?? 'no output'}`));
      } else if (parsed.skipped !== undefined) {
        resolve(absent(`${PEER_PYTHON} cannot import torch: ${parsed.skipped}`));
      } else {
        const seconds = parsed.seconds ?? NaN;
        resolve({
          peer: 'pytorch',
          version: parsed.version ?? '?',
          threads: parsed.threads ?? threads,
          batch_size: batchSize,
          samples: steps * batchSize,
          seconds: Math.round(seconds * 1000) / 1000,
          samples_per_s: Math.round(((steps * batchSize) / seconds) * 10) / 10,
        });
      }
    });
  });
}
