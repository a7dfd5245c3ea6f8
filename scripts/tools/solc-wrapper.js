#!/usr/bin/env node
// Native-solc-like CLI on top of solc-js (npm "solc"), for forge and friends.
// Installed by scripts/setup as .tools/bin/solc. Supports what forge uses:
//   solc --version
//   solc [--base-path P] [--include-path P]... [--allow-paths A,B] --standard-json [FILE]
// Standard JSON is read from stdin (or FILE); output JSON goes to stdout, as
// native solc does (compile errors are reported inside the JSON, exit code 0).
// Imports not present in the input are resolved from the file system: base path,
// include paths, allow paths, the current directory, then .tools/node_modules.
// Set FLASHLAYER_SOLC_LOG=<file> to append each invocation's argv to <file>.
'use strict';

const fs = require('fs');
const path = require('path');

const TOOLS = path.resolve(__dirname, '..'); // .tools/
const NODE_MODULES = path.join(TOOLS, 'node_modules');

function die(msg, code = 1) {
  process.stderr.write(msg.endsWith('\n') ? msg : msg + '\n');
  process.exit(code);
}

const argv = process.argv.slice(2);
if (process.env.FLASHLAYER_SOLC_LOG) {
  try {
    fs.appendFileSync(process.env.FLASHLAYER_SOLC_LOG,
      JSON.stringify({ cwd: process.cwd(), argv }) + '\n');
  } catch (_) { /* logging is best effort */ }
}

const opts = { basePath: null, includePaths: [], allowPaths: [], standardJson: false,
  version: false, help: false, file: null };
for (let i = 0; i < argv.length; i++) {
  let a = argv[i];
  let val = null;
  const eq = a.indexOf('=');
  if (a.startsWith('--') && eq > 0) { val = a.slice(eq + 1); a = a.slice(0, eq); }
  const next = () => {
    if (val !== null) return val;
    if (i + 1 >= argv.length) die(`solc: option ${a} needs a value`);
    return argv[++i];
  };
  switch (a) {
    case '--version': case '-v': opts.version = true; break;
    case '--help': case '-h': opts.help = true; break;
    case '--standard-json': opts.standardJson = true; break;
    case '--base-path': opts.basePath = next(); break;
    case '--include-path': opts.includePaths.push(next()); break;
    case '--allow-paths': opts.allowPaths.push(...next().split(',').filter(Boolean)); break;
    case '--pretty-json': case '--json-indent': case '--no-color': case '--color':
      if (a === '--json-indent' && val === null && /^\d+$/.test(argv[i + 1] || '')) i++;
      break; // formatting only: ignored
    default:
      if (!a.startsWith('-') && opts.file === null) { opts.file = a; break; }
      die(`solc (solc-js wrapper): unsupported argument ${argv[i]}; ` +
        'only --version and --standard-json [--base-path/--include-path/--allow-paths] are supported');
  }
}

function loadSolc() {
  try {
    return require(path.join(NODE_MODULES, 'solc'));
  } catch (e) {
    die(`solc wrapper: cannot load solc-js from ${NODE_MODULES} (run scripts/setup): ${e.message}`);
  }
}

// "0.8.37+commit.f401782d.Emscripten.clang" -> "0.8.37+commit.f401782d.Linux.g++"
function nativeVersion(solc) {
  const v = solc.version();
  const m = /^(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?\+commit\.[0-9a-f]+)/.exec(v);
  return (m ? m[1] : v) + '.Linux.g++';
}

if (opts.help) {
  process.stdout.write('solc-js wrapper: supports --version and --standard-json ' +
    '[--base-path P] [--include-path P] [--allow-paths A,B] [FILE]\n');
  process.exit(0);
}

if (opts.version) {
  const solc = loadSolc();
  process.stdout.write('solc, the solidity compiler commandline interface\n' +
    `Version: ${nativeVersion(solc)}\n`);
  process.exit(0);
}

if (!opts.standardJson) die('solc (solc-js wrapper): only --standard-json mode is supported');

const input = opts.file ? fs.readFileSync(opts.file, 'utf8') : fs.readFileSync(0, 'utf8');

// Roots for resolving imports that forge did not already put in the input.
const cwd = process.cwd();
const roots = [];
const addRoot = (p) => {
  if (!p) return;
  const r = path.resolve(cwd, p);
  if (!roots.includes(r)) roots.push(r);
};
addRoot(opts.basePath || cwd);
opts.includePaths.forEach(addRoot);
opts.allowPaths.forEach(addRoot);
addRoot(cwd);
addRoot(NODE_MODULES);

function findImports(importPath) {
  const candidates = path.isAbsolute(importPath)
    ? [importPath]
    : roots.map((r) => path.join(r, importPath));
  for (const c of candidates) {
    try {
      if (fs.statSync(c).isFile()) return { contents: fs.readFileSync(c, 'utf8') };
    } catch (_) { /* try next */ }
  }
  return { error: `File not found: ${importPath} (searched ${roots.join(', ')})` };
}

const solc = loadSolc();
let output;
try {
  output = solc.compile(input, { import: findImports });
} catch (e) {
  die(`solc wrapper: compilation crashed: ${e && e.stack ? e.stack : e}`);
}
process.stdout.write(output);
process.stdout.write('\n');
