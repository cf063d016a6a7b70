import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { makeStateDir } from './temp-dir.js';

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Plain-JS copies of src/lock (its backends' folders included) and the modules it imports (the error
 * registry, and src/infra: argument checks, the in-flight tracker, the etcd client's shared policy) for
 * child processes, which cannot load TypeScript on Node 20. Built apart from dist/ so the test depends
 * neither on a prior build nor on other modules compiling; node_modules is linked so proper-lockfile, zod
 * and etcd3 resolve.
 */
export async function buildLockModule(): Promise<{ readonly dir: string; remove: () => Promise<void> }> {
  const { dir, remove } = await makeStateDir();
  const sources = ['src/errors.ts', ...(await sourcesIn('src/infra')), ...(await sourcesIn('src/lock'))];
  for (const source of sources) {
    const { outputText } = ts.transpileModule(await readFile(join(projectRoot, source), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: source,
    });
    const target = join(dir, source.replace(/\.ts$/, '.js'));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, outputText);
  }
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
  await symlink(join(projectRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { dir, remove };
}

/** The TypeScript files under `folder`, subfolders included, as paths from the project root. */
async function sourcesIn(folder: string): Promise<string[]> {
  const names = await readdir(join(projectRoot, folder), { recursive: true });
  return names.filter((name) => name.endsWith('.ts')).map((name) => `${folder}/${name}`);
}
