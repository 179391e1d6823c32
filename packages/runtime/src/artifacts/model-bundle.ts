import { type ModelBundle, model } from '@cairn/core';

/**
 * Read a model bundle from a folder laid out as `model()` stores it
 * (`cairn-model.json` + `files/`): what `cairn artifacts get <digest> --out dir`
 * writes, and what a server loads without the training code.
 */
export async function loadModelBundle(dir: string): Promise<ModelBundle> {
  return model().deserialize({ path: dir, digest: '', size: 0 }, { workdir: dir, name: 'model' });
}
