'use strict';
/*
 * The REST API's contract as a standard JSON Schema validator reads it.
 * contract.load() compiles controller/openapi.json with Ajv (OpenAPI 3.0's
 * "nullable" included, in strict mode, so that a schema Ajv cannot read is
 * an error rather than a silent pass), and contract.check() tells whether
 * one real HTTP exchange conforms: that the operation exists, that its
 * status and Content-Type are documented for it, and that the body is what
 * the operation's response schema says.  Requests to no documented path or
 * method must get the documented error shape (components/schemas/Error).
 */

const fs = require('fs');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');

/* The $id under which the whole document is known to Ajv, so that the
 * document's own "#/components/schemas/..." references resolve inside it. */
const DOC_ID = 'fabric-openapi.json';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/* Escapes "token" for a JSON pointer (RFC 6901). */
function pointerToken(token) {
    return String(token).replace(/~/g, '~0').replace(/\//g, '~1');
}

/* Follows an OpenAPI "$ref" to components (responses, parameters) within
 * "doc"; returns [object, pointer] with the pointer of what it reached. */
function deref(doc, object, pointer) {
    while (object && typeof object.$ref === 'string') {
        if (!object.$ref.startsWith('#/')) {
            throw new Error(`${pointer}: only local references are supported, `
                            + `not ${object.$ref}`);
        }
        pointer = object.$ref;
        object = pointer.split('/').slice(1).reduce(
            (o, t) => (o === undefined ? o
                       : o[t.replace(/~1/g, '/').replace(/~0/g, '~')]),
            doc);
        if (object === undefined) {
            throw new Error(`${pointer}: the reference leads nowhere`);
        }
    }
    return [object, pointer];
}

/* Makes the validator of the document at "path": returns the contract
 * object that check() takes.  Throws if a schema does not compile. */
function load(path) {
    const doc = JSON.parse(fs.readFileSync(path, 'utf8'));
    const ajv = new Ajv({allErrors: true, strict: true, strictTypes: false,
                         discriminator: true, validateSchema: false});
    addFormats(ajv);
    /* Annotations of OpenAPI 3.0 that constrain nothing. */
    ajv.addVocabulary(['example', 'xml', 'externalDocs']);
    /* The document's root ("openapi", "paths", ...) is no schema; only its
     * parts are compiled, but Ajv reads the root's keys too. */
    ajv.addVocabulary(Object.keys(doc).filter((k) => !ajv.getKeyword(k)));
    ajv.addSchema(doc, DOC_ID);

    /* Path templates, literal segments before parameters, so that
     * "/v1/hosts/{name}/heartbeat" never reads as a host named so. */
    const routes = Object.keys(doc.paths).map((template) => {
        const pattern = template.split('/').map((seg) => (
            /^\{[^}]+\}$/.test(seg) ? '[^/]+'
                : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
        return {template, regex: new RegExp(`^${pattern}$`),
                params: (template.match(/\{/g) || []).length};
    }).sort((a, b) => a.params - b.params);

    const contract = {doc, ajv, routes, validators: new Map()};
    /* Every response schema compiles now, so that a document Ajv cannot
     * read fails here rather than at the first response that needs it. */
    for (const route of routes) {
        const item = doc.paths[route.template];
        for (const method of METHODS) {
            if (!item[method]) {
                continue;
            }
            for (const status of Object.keys(item[method].responses || {})) {
                const base = `#/paths/${pointerToken(route.template)}/${method}`
                    + `/responses/${pointerToken(status)}`;
                const [response, at] = deref(doc, item[method].responses[status],
                                             base);
                for (const media of Object.keys(response.content || {})) {
                    if (response.content[media].schema) {
                        validator(contract,
                                  `${at}/content/${pointerToken(media)}/schema`);
                    }
                }
            }
        }
    }
    return contract;
}

/* The compiled validator of the schema at JSON "pointer" in the document. */
function validator(contract, pointer) {
    let v = contract.validators.get(pointer);
    if (!v) {
        v = contract.ajv.compile({$ref: `${DOC_ID}${pointer}`});
        contract.validators.set(pointer, v);
    }
    return v;
}

/* The documented operation for "method" and "path" (query excluded):
 * {template, operation} or {template} when only the path is known, or
 * null. */
function findOperation(contract, method, path) {
    const route = contract.routes.find((r) => r.regex.test(path));
    if (!route) {
        return null;
    }
    const operation = contract.doc.paths[route.template][method.toLowerCase()];
    return {template: route.template, operation};
}

/* Ajv's errors as short lines: where in the body, and what is wrong. */
function describe(errors) {
    return errors.map((e) => {
        const where = e.instancePath || '(the body)';
        const extra = e.params && e.params.additionalProperty
            ? ` ("${e.params.additionalProperty}")` : '';
        return `${where} ${e.message}${extra}`;
    });
}

/* Checks one exchange "x" ({method, path, status, content_type, body}) and
 * returns a list of what does not conform, empty when all does. */
function check(contract, x) {
    const path = x.path.split('?')[0];
    const found = findOperation(contract, x.method, path);
    const type = (x.content_type || '').split(';')[0].trim().toLowerCase();
    let responses;
    let base;

    if (found && found.operation) {
        responses = found.operation.responses || {};
        base = `#/paths/${pointerToken(found.template)}/`
            + `${x.method.toLowerCase()}/responses`;
    } else {
        /* No documented operation: only the documented error shape, with
         * the status that says why, may come back. */
        const want = found ? 405 : 404;
        if (x.status !== want) {
            return [`no documented operation, so ${want} was due, `
                    + `not ${x.status}`];
        }
        responses = {[want]: {$ref: '#/components/responses/NotFound'}};
        base = '#/components';
    }

    const code = String(x.status);
    const key = [code, `${code[0]}XX`, 'default'].find((k) => k in responses);
    if (!key) {
        return [`status ${x.status} is not documented (documented: `
                + `${Object.keys(responses).join(', ')})`];
    }
    const [response, at] = deref(contract.doc, responses[key],
                                 `${base}/${pointerToken(key)}`);
    const content = response.content || {};
    if (Object.keys(content).length === 0) {
        return x.body.length === 0 ? []
            : [`status ${x.status} documents no body, yet one came`];
    }
    if (!(type in content)) {
        return [`Content-Type "${type}" is not documented for status `
                + `${x.status} (documented: ${Object.keys(content).join(', ')})`];
    }
    if (!content[type].schema) {
        return [];
    }
    let body = x.body;
    if (type === 'application/json' || type.endsWith('+json')) {
        try {
            body = JSON.parse(x.body);
        } catch (e) {
            return [`the body is not JSON: ${e.message}`];
        }
    }
    const v = validator(contract,
                        `${at}/content/${pointerToken(type)}/schema`);
    if (!v(body)) {
        return describe(v.errors);
    }
    /* The error shape repeats the status; a mismatch misleads clients
     * that read only the body. */
    if (body && typeof body === 'object' && body.error
        && typeof body.error.status === 'number'
        && body.error.status !== x.status) {
        return [`/error/status is ${body.error.status}, the response's `
                + `status ${x.status}`];
    }
    return [];
}

module.exports = {load, check, findOperation};
