import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Plain-JS copies of `folder` (its backends' folders included) and what it imports at run time (the
 * error registry and src/infra), for child processes, which cannot load TypeScript on Node 20; they
 * import `<dir>/src/lock/...` or `<dir>/src/store/...`. Built in a temp dir apart from dist/, so a test
 * depends neither on a prior build nor on other modules compiling; node_modules is linked so
 * zod and etcd3 resolve.
 */
export async function buildChildModule(
  folder: 'src/lock' | 'src/store',
): Promise<{ readonly dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `fleet-rollout-${basename(folder)}-`));
  const sources = ['src/errors.ts', ...(await sourcesIn('src/infra')), ...(await sourcesIn(folder))];
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
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The TypeScript files under `folder`, subfolders included, as paths from the project root. */
async function sourcesIn(folder: string): Promise<string[]> {
  const names = await readdir(join(projectRoot, folder), { recursive: true });
  return names.filter((name) => name.endsWith('.ts')).map((name) => `${folder}/${name}`);
}
