#!/usr/bin/env node
'use strict';
/*
 * Usage: check-responses.js OPENAPI.json RECORDING...
 *
 * Checks every HTTP exchange that proxy.js recorded (one JSON object a
 * line) against the OpenAPI document, and prints each one that does not
 * conform with what is wrong, then one summary line.  Exits 0 when every
 * exchange conforms, 1 when one does not or when there is nothing to
 * check (a recording with no exchange means the proxy saw no traffic, and
 * a check of nothing must not pass), 2 on usage errors.
 */

const fs = require('fs');
const contract = require('./contract');

/* One drift usually shows in many answers: the first few say enough. */
const MAX_SHOWN = 10;

function main(argv) {
    if (argv.length < 2) {
        process.stderr.write('usage: check-responses.js OPENAPI.json '
                             + 'RECORDING...\n');
        return 2;
    }
    const [docPath, ...recordings] = argv;
    let c;
    try {
        c = contract.load(docPath);
    } catch (e) {
        process.stderr.write(`check-responses: ${docPath}: ${e.message}\n`);
        return 1;
    }

    let total = 0;
    let bad = 0;
    const operations = new Set();
    for (const file of recordings) {
        const lines = fs.readFileSync(file, 'utf8').split('\n');
        lines.forEach((line, i) => {
            if (line.trim() === '') {
                return;
            }
            const x = JSON.parse(line);
            const problems = contract.check(c, x);
            const found = contract.findOperation(c, x.method,
                                                 x.path.split('?')[0]);
            if (found && found.operation) {
                operations.add(`${x.method} ${found.template}`);
            }
            total++;
            if (problems.length) {
                bad++;
                if (bad > MAX_SHOWN) {
                    return;
                }
                const body = x.body.length > 300
                    ? `${x.body.slice(0, 300)}...` : x.body;
                process.stdout.write(
                    `${file}:${i + 1}: ${x.method} ${x.path} -> ${x.status} `
                    + `does not conform to ${docPath}:\n`
                    + problems.map((p) => `    ${p}\n`).join('')
                    + `    body: ${body}\n`);
            }
        });
    }
    const shown = bad > MAX_SHOWN ? ` (the first ${MAX_SHOWN} shown)` : '';
    process.stdout.write(`check-responses: ${total} responses of `
                         + `${operations.size} operations checked, `
                         + `${bad} do not conform${shown}\n`);
    if (total === 0) {
        process.stdout.write('check-responses: nothing was recorded: '
                             + 'was the controller behind proxy.js?\n');
        return 1;
    }
    return bad === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
