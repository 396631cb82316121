import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BadInputError } from '../pipeline/core/errors.js';
import { buildModel } from '../pipeline/ml/model.js';
import { loadModel, saveModel } from '../pipeline/catalog/model-io.js';
import { modelFiles } from '../pipeline/catalog/model-files.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { tempDir } from './helpers.js';

describe('model files (tfjs layers format through our own IO handlers)', () => {
  let dir: string;
  let modelJson: string;
  beforeAll(async () => {
    await initTf('cpu');
    dir = tempDir();
    modelJson = join(dir, 'model.json');
    const model = buildModel(11);
    await saveModel(model, modelJson);
    model.dispose();
  });

  const loadError = async (path: string) => {
    const err = await loadModel(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    return (err as Error).message;
  };
  const copy = () => {
    const d = tempDir();
    for (const f of modelFiles(modelJson)) writeFileSync(join(d, f.slice(dir.length + 1)), readFileSync(f));
    return join(d, 'model.json');
  };

  it('round-trips the architecture and every weight exactly', async () => {
    expect(modelFiles(modelJson)).toEqual([modelJson, join(dir, 'weights.bin')]);
    const loaded = await loadModel(modelJson);
    const fresh = buildModel(11);
    expect(loaded.layers.map((l) => l.name)).toEqual(fresh.layers.map((l) => l.name));
    loaded.getWeights().forEach((w, i) => expect(Buffer.from(w.dataSync().buffer).equals(Buffer.from(fresh.getWeights()[i].dataSync().buffer))).toBe(true));
    loaded.dispose();
    fresh.dispose();
  });

  it('names a missing shard, a short shard, a shard path leaving the folder, and garbage', async () => {
    let path = copy();
    rmSync(join(path, '..', 'weights.bin'));
    expect(await loadError(path)).toMatch(/^missing weights shard .*weights\.bin \(named in .*model\.json\); re-create it \(npm run pipeline -- --only checkpoint --force\)/);

    path = copy();
    const shard = join(path, '..', 'weights.bin');
    writeFileSync(shard, readFileSync(shard).subarray(0, 100));
    expect(await loadError(path)).toMatch(/hold 100 bytes but its manifest needs 1334104: the shard is truncated or belongs to another model/);

    path = copy();
    const json = JSON.parse(readFileSync(path, 'utf8')) as { weightsManifest: { paths: string[] }[] };
    json.weightsManifest[0].paths = ['../../etc/passwd'];
    writeFileSync(path, JSON.stringify(json));
    expect(await loadError(path)).toMatch(/weights path "\.\.\/\.\.\/etc\/passwd" leaves the model folder/);

    path = copy();
    writeFileSync(path, '{"format": ');
    expect(await loadError(path)).toMatch(/^cannot read model .*model\.json: /);
    expect(await loadError(join(dir, 'nope.json'))).toMatch(/^missing model .*nope\.json; re-create it/);
    // A folder where model.json belongs is not "missing": the error says what happened.
    await expect(loadModel(dir)).rejects.toMatchObject({ code: 'EISDIR' });
  });
});
