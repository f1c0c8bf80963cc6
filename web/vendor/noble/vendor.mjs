// Re-vendors @noble/{curves,hashes,ciphers} from npm tarballs into this folder as plain ES
// modules: only the files our code imports and what they import in turn, with the packages'
// bare '@noble/…' specifiers rewritten to relative paths so a browser loads them without an
// import map or bundler. Usage (from this folder, needs npm):
//   node vendor.mjs 2.4.0 2.4.0 2.4.0     # curves, hashes, ciphers versions
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, copyFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { tmpdir } from 'node:os';

const [curvesV, hashesV, ciphersV] = process.argv.slice(2);
if (!ciphersV) throw new Error('usage: node vendor.mjs CURVES HASHES CIPHERS');
const here = dirname(new URL(import.meta.url).pathname);
const tmp = mkdtempSync(join(tmpdir(), 'noble-'));
const pkgs = { curves: curvesV, hashes: hashesV, ciphers: ciphersV };
for (const [name, v] of Object.entries(pkgs)) {
  execFileSync('npm', ['pack', `@noble/${name}@${v}`, '--silent', '--pack-destination', tmp]);
  mkdirSync(join(tmp, name));
  execFileSync('tar', ['xzf', join(tmp, `noble-${name}-${v}.tgz`), '-C', join(tmp, name)]);
  rmSync(join(here, name), { recursive: true, force: true });
}
const entries = ['curves/ed25519.js', 'curves/utils.js', 'hashes/sha2.js', 'hashes/hkdf.js',
  'hashes/hmac.js', 'hashes/utils.js', 'ciphers/chacha.js', 'ciphers/utils.js'];
const seen = new Set();
const queue = [...entries];
while (queue.length) {
  const file = queue.pop();
  if (seen.has(file)) continue;
  seen.add(file);
  const [pkg, ...rest] = file.split('/');
  let src = readFileSync(join(tmp, pkg, 'package', ...rest), 'utf8');
  // Only real import/export statements (not the examples in doc comments).
  src = src.replace(/^((?:import|export)[^'"\n]*?from\s*)(['"])([^'"]+)\2/gm, (m, pre, q, spec) => {
    let target;
    if (spec.startsWith('@noble/')) target = spec.slice('@noble/'.length);
    else if (spec.startsWith('.')) target = join(pkg, dirname(rest.join('/')), spec);
    else throw new Error(`${file}: unexpected import ${spec}`);
    queue.push(target);
    let rel = relative(dirname(file), target);
    if (!rel.startsWith('.')) rel = './' + rel;
    return `${pre}${q}${rel}${q}`;
  });
  src = src.replace(/^\/\/# sourceMappingURL=.*$/m, '');
  mkdirSync(join(here, dirname(file)), { recursive: true });
  writeFileSync(join(here, file), src);
}
for (const name of Object.keys(pkgs)) {
  copyFileSync(join(tmp, name, 'package', 'LICENSE'), join(here, name, 'LICENSE'));
}
rmSync(tmp, { recursive: true, force: true });
console.log([...seen].sort().join('\n'));
