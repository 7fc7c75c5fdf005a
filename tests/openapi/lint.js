#!/usr/bin/env node
'use strict';
/*
 * Usage: lint.js OPENAPI.json
 *
 * Validates an OpenAPI 3.0 document the way others will: against the
 * official OpenAPI 3.0 schema and its rules (unique operation ids, path
 * parameters declared, references that resolve) with swagger-parser, then
 * compiles every response schema with Ajv in strict mode, as the response
 * check does, so that a schema a JSON Schema validator cannot read (say
 * "nullable" without "type") is an error too.  Prints each problem; exits
 * 0 when there is none, 1 otherwise, 2 on usage errors.
 */

const SwaggerParser = require('@apidevtools/swagger-parser');
const contract = require('./contract');

async function main(argv) {
    if (argv.length !== 1) {
        process.stderr.write('usage: lint.js OPENAPI.json\n');
        return 2;
    }
    const path = argv[0];
    try {
        const api = await SwaggerParser.validate(path);
        if (!/^3\.0\.\d+$/.test(api.openapi)) {
            throw new Error(`"openapi" is "${api.openapi}", not 3.0.x`);
        }
    } catch (e) {
        process.stdout.write(`lint: ${path}: not valid OpenAPI 3.0:\n`
                             + `${e.message}\n`);
        return 1;
    }
    try {
        contract.load(path);
    } catch (e) {
        process.stdout.write(`lint: ${path}: a schema does not compile `
                             + `with Ajv (strict): ${e.message}\n`);
        return 1;
    }
    process.stdout.write(`lint: ${path}: valid OpenAPI 3.0\n`);
    return 0;
}

main(process.argv.slice(2)).then((rc) => { process.exitCode = rc; });
