#!/usr/bin/env node
// Build csmap's self-hosted front-end assets into app/web/static/build/.
//
//   npm ci && npm run build
//
// - compiles app/web/assets/csmap.scss (GOV.UK Frontend styles, no GDS Transport)
// - copies GOV.UK Frontend's JavaScript and only the images the CSS references
// - copies Leaflet's dist files and the Leaflet.draw plugin (drawing places on a map)
// - copies Leaflet.markercluster (clustered place markers) and leaflet.fullscreen (a full-screen button)
//
// Everything is served from the app's own origin: the build fails if the CSS
// references a font file or another origin. It builds into a temporary folder
// and swaps it in at the end, so a failed build leaves the previous one intact.
// Uses only Node built-ins and the `sass` package.

import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants as zlib, gzipSync } from 'node:zlib';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE_MODULES = path.join(ROOT, 'node_modules');
const SCSS_ENTRY = path.join(ROOT, 'app', 'web', 'assets', 'csmap.scss');
const OUT_DIR = path.join(ROOT, 'app', 'web', 'static', 'build');
// Outside static/ so a half-built tree is never served; same filesystem for rename().
const TMP_DIR = path.join(ROOT, 'app', 'web', '.assets-build-tmp');

const GOVUK_DIST = path.join(NODE_MODULES, 'govuk-frontend', 'dist', 'govuk');
const GOVUK_ASSETS = path.join(GOVUK_DIST, 'assets');
const LEAFLET_DIR = path.join(NODE_MODULES, 'leaflet');
const LEAFLET_DIST = path.join(LEAFLET_DIR, 'dist');
const LEAFLET_DRAW_DIR = path.join(NODE_MODULES, 'leaflet-draw');
const LEAFLET_DRAW_DIST = path.join(LEAFLET_DRAW_DIR, 'dist');
const MARKERCLUSTER_DIR = path.join(NODE_MODULES, 'leaflet.markercluster');
const MARKERCLUSTER_DIST = path.join(MARKERCLUSTER_DIR, 'dist');
const FULLSCREEN_DIR = path.join(NODE_MODULES, 'leaflet.fullscreen');

// Must match $govuk-assets-path in csmap.scss and where the app mounts static/.
const GOVUK_ASSETS_URL = '/static/build/govuk/assets/';
const FONT_FILE = /\.(woff2?|ttf|otf|eot)$/i;

class BuildError extends Error {}

function rel(p) {
  return path.relative(ROOT, p) || '.';
}

function fail(message) {
  throw new BuildError(message);
}

async function report(finalPath) {
  const info = await stat(finalPath.replace(OUT_DIR, TMP_DIR));
  const size = info.isDirectory() ? 'dir' : `${info.size} bytes`;
  console.log(`build-assets: wrote ${rel(finalPath)} (${size})`);
}

function requireFile(p, hint) {
  if (!existsSync(p)) fail(`missing ${rel(p)}${hint ? ` (${hint})` : ''}`);
}

// Every url(...) in a stylesheet, without quotes, query or fragment.
function cssUrls(css) {
  const urls = new Set();
  for (const m of css.matchAll(/url\(\s*(['"]?)(.*?)\1\s*\)/g)) urls.add(m[2].trim());
  return [...urls].sort();
}

async function copyTo(src, finalDest) {
  const dest = finalDest.replace(OUT_DIR, TMP_DIR);
  await mkdir(path.dirname(dest), { recursive: true });
  await cp(src, dest, { recursive: true });
  await report(finalDest);
}

async function buildCss() {
  let sass;
  try {
    sass = await import('sass');
  } catch (err) {
    fail(`cannot load the sass package (${err.code || err.message}); run \`npm ci\` in ${ROOT}`);
  }
  requireFile(SCSS_ENTRY);
  requireFile(path.join(GOVUK_DIST, 'index.scss'), 'run `npm ci`');

  let result;
  try {
    result = sass.compile(SCSS_ENTRY, {
      style: 'compressed',
      loadPaths: [NODE_MODULES],
      quietDeps: true,
    });
  } catch (err) {
    fail(`Sass compilation of ${rel(SCSS_ENTRY)} failed:\n${err.message}`);
  }
  const css = result.css;

  if (/@font-face/i.test(css) || /GDS Transport/i.test(css)) {
    fail('compiled CSS contains @font-face or "GDS Transport"; csmap must not use the GDS Transport font');
  }

  // Only same-origin GOV.UK Frontend images are allowed; copy exactly those.
  const images = [];
  for (const url of cssUrls(css)) {
    const clean = url.split(/[?#]/)[0];
    if (/^([a-z][a-z0-9+.-]*:|\/\/)/i.test(url)) {
      fail(`compiled CSS references another origin or scheme: url(${url})`);
    }
    if (FONT_FILE.test(clean)) fail(`compiled CSS references a font file: url(${url})`);
    if (!clean.startsWith(GOVUK_ASSETS_URL)) {
      fail(`compiled CSS references url(${url}), outside ${GOVUK_ASSETS_URL}`);
    }
    const relAsset = clean.slice(GOVUK_ASSETS_URL.length);
    const src = path.resolve(GOVUK_ASSETS, relAsset);
    if (!src.startsWith(GOVUK_ASSETS + path.sep)) fail(`unsafe asset path in url(${url})`);
    requireFile(src, `referenced by url(${url})`);
    images.push({ src, dest: path.join(OUT_DIR, 'govuk', 'assets', relAsset) });
  }

  const cssOut = path.join(OUT_DIR, 'csmap.css');
  await mkdir(TMP_DIR, { recursive: true });
  await writeFile(cssOut.replace(OUT_DIR, TMP_DIR), css + '\n');
  await report(cssOut);
  for (const { src, dest } of images) await copyTo(src, dest);
}

async function copyGovukJs() {
  for (const name of ['govuk-frontend.min.js', 'govuk-frontend.min.js.map']) {
    const src = path.join(GOVUK_DIST, name);
    requireFile(src, 'run `npm ci`');
    await copyTo(src, path.join(OUT_DIR, 'govuk', name));
  }
}

async function copyLeaflet() {
  const leafletOut = path.join(OUT_DIR, 'leaflet');
  for (const name of ['leaflet.js', 'leaflet.js.map', 'leaflet.css', 'images']) {
    const src = path.join(LEAFLET_DIST, name);
    requireFile(src, 'run `npm ci`');
    await copyTo(src, path.join(leafletOut, name));
  }
  // BSD-2-Clause: keep the licence next to the redistributed files.
  const licence = path.join(LEAFLET_DIR, 'LICENSE');
  requireFile(licence);
  await copyTo(licence, path.join(leafletOut, 'LICENSE'));
}

async function copyLeafletDraw() {
  const drawOut = path.join(OUT_DIR, 'leaflet-draw');
  for (const name of ['leaflet.draw.js', 'leaflet.draw.css']) {
    const src = path.join(LEAFLET_DRAW_DIST, name);
    requireFile(src, 'run `npm ci`');
    await copyTo(src, path.join(drawOut, name));
  }
  // The stylesheet's url(...)s must stay relative: copy exactly the images it names.
  const css = await readFile(path.join(LEAFLET_DRAW_DIST, 'leaflet.draw.css'), 'utf8');
  for (const url of cssUrls(css)) {
    if (!/^images\/[\w.-]+$/.test(url)) fail(`leaflet.draw.css references url(${url}), outside images/`);
    const src = path.join(LEAFLET_DRAW_DIST, url);
    requireFile(src, `referenced by leaflet.draw.css`);
    await copyTo(src, path.join(drawOut, url));
  }
  // MIT: the package ships no LICENSE file; its README names the licence and the authors.
  const readme = path.join(LEAFLET_DRAW_DIR, 'README.md');
  requireFile(readme);
  await copyTo(readme, path.join(drawOut, 'README.md'));
}

async function copyMarkerCluster() {
  const clusterOut = path.join(OUT_DIR, 'leaflet-markercluster');
  for (const name of ['leaflet.markercluster.js', 'MarkerCluster.css', 'MarkerCluster.Default.css']) {
    const src = path.join(MARKERCLUSTER_DIST, name);
    requireFile(src, 'run `npm ci`');
    await copyTo(src, path.join(clusterOut, name));
  }
  for (const name of ['MarkerCluster.css', 'MarkerCluster.Default.css']) {
    const css = await readFile(path.join(MARKERCLUSTER_DIST, name), 'utf8');
    if (cssUrls(css).length) fail(`${name} references url(...): copy what it needs`);
  }
  // MIT: keep the licence next to the redistributed files.
  const licence = path.join(MARKERCLUSTER_DIR, 'MIT-LICENCE.txt');
  requireFile(licence);
  await copyTo(licence, path.join(clusterOut, 'MIT-LICENCE.txt'));
}

async function copyFullscreen() {
  const fullscreenOut = path.join(OUT_DIR, 'leaflet-fullscreen');
  for (const name of ['Control.FullScreen.js', 'Control.FullScreen.css', 'LICENSE']) {
    const src = path.join(FULLSCREEN_DIR, name);
    requireFile(src, 'run `npm ci`');
    await copyTo(src, path.join(fullscreenOut, name));
  }
  // The stylesheet's url(...)s must stay relative: copy exactly the images it names.
  const css = await readFile(path.join(FULLSCREEN_DIR, 'Control.FullScreen.css'), 'utf8');
  for (const url of cssUrls(css)) {
    if (!/^[\w.-]+\.svg$/.test(url)) fail(`Control.FullScreen.css references url(${url}), not a local SVG`);
    const src = path.join(FULLSCREEN_DIR, url);
    requireFile(src, `referenced by Control.FullScreen.css`);
    await copyTo(src, path.join(fullscreenOut, url));
  }
}

// Text assets as `.gz` beside themselves (level 9, once), which the app sends to browsers accepting
// gzip instead of compressing every response again.
const COMPRESSED = /\.(css|js|mjs|svg|map)$/i;
const COMPRESS_FROM = 1024;

async function compressAll() {
  let written = 0;
  for (const entry of await readdir(TMP_DIR, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath ?? entry.path, entry.name);
    if (entry.isFile() && COMPRESSED.test(entry.name)) {
      const body = await readFile(file);
      if (body.length >= COMPRESS_FROM) {
        await writeFile(`${file}.gz`, gzipSync(body, { level: zlib.Z_BEST_COMPRESSION }));
        written += 1;
      }
    }
  }
  console.log(`build-assets: gzip-compressed ${written} files beside themselves`);
}

async function main() {
  await rm(TMP_DIR, { recursive: true, force: true });
  try {
    await buildCss();
    await copyGovukJs();
    await copyLeaflet();
    await copyLeafletDraw();
    await copyMarkerCluster();
    await copyFullscreen();
    await compressAll();
    await rm(OUT_DIR, { recursive: true, force: true });
    await rename(TMP_DIR, OUT_DIR);
  } finally {
    await rm(TMP_DIR, { recursive: true, force: true });
  }
  console.log(`build-assets: done, output in ${rel(OUT_DIR)}/`);
}

main().catch((err) => {
  const message = err instanceof BuildError ? err.message : err.stack || String(err);
  console.error(`build-assets: error: ${message}`);
  process.exit(1);
});
