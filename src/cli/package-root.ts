/**
 * Where this package's own files are: the folder above this module holding the package.json named
 * smmuv3-tlbi. The same walk works from the sources (src/cli/), from the build (dist/src/cli/) and from an
 * installed copy (node_modules/smmuv3-tlbi/dist/src/cli/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'smmuv3-tlbi';

interface PackageJson {
  name?: string;
  version?: string;
}

function readPackageJson(dir: string): PackageJson | undefined {
  const path = join(dir, 'package.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
}

let cached: string | null | undefined;

/** The package's root folder, or null when it cannot be found (a copied single file, say). */
export function packageRoot(): string | null {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (readPackageJson(dir)?.name === PACKAGE_NAME) return (cached = dir);
    const up = dirname(dir);
    if (up === dir) return (cached = null);
    dir = up;
  }
}

/** The version in the package's package.json ("0.0.0" when it cannot be read). */
export function packageVersion(): string {
  const root = packageRoot();
  const v = root === null ? undefined : readPackageJson(root)?.version;
  return typeof v === 'string' ? v : '0.0.0';
}
