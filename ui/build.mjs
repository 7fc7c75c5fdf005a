// Builds the web console into the directory named by the second argument
// from the sources under the first (ui/ of the source tree): esbuild
// bundles src/main.js, the libraries it imports and their style sheets into
// app-HASH.js and app-HASH.css, and index.html is src/index.html with
// those names in it.  The hash in a name changes with the content, so the
// controller lets browsers keep such files for a year; index.html is
// revalidated on every use.
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [srcdir, outdir] = process.argv.slice(2);
if (!srcdir || !outdir) {
  console.error('usage: node build.mjs SRCDIR OUTDIR');
  process.exit(2);
}

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
const result = await esbuild.build({
  entryPoints: { app: path.join(srcdir, 'src', 'main.js') },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  entryNames: '[name]-[hash]',
  outdir,
  metafile: true,
  logLevel: 'warning',
});

const names = Object.keys(result.metafile.outputs).map((p) => path.basename(p));
const js = names.find((n) => /^app-[A-Z0-9]{8}\.js$/.test(n));
const css = names.find((n) => /^app-[A-Z0-9]{8}\.css$/.test(n));
if (!js || !css) {
  console.error(`ui: esbuild made ${names.join(', ')}: expected app-HASH.js and app-HASH.css`);
  process.exit(1);
}
const html = readFileSync(path.join(srcdir, 'src', 'index.html'), 'utf8')
  .replace('@APP_JS@', js)
  .replace('@APP_CSS@', css);
writeFileSync(path.join(outdir, 'index.html'), html);
console.log(`ui: ${outdir}: index.html, ${js}, ${css}`);
