#!/usr/bin/env node
'use strict';
/*
 * Usage: from-pcap.js CAPTURE PORT
 *
 * Prints the HTTP exchanges with the controller at TCP port PORT that a
 * packet capture holds, in the recording format of proxy.js (one JSON
 * object a line: method, path, status, content_type, body), for
 * check-responses.js.  tshark reassembles the streams and decodes HTTP;
 * a capture changes nothing for the agents and the controller, which see
 * each other's real addresses, as a proxy in between would not.  A request
 * whose answer the capture does not hold (a long poll cut short, a
 * controller killed) is left out; an answer cut short is kept, and fails
 * the check.
 */

const {execFileSync} = require('child_process');

/* Runs tshark over the capture with display filter "filter", printing
 * "fields", HTTP bodies reassembled if "bodies", and returns its packets
 * as objects of arrays. */
function tshark(capture, port, filter, fields, bodies) {
    const args = ['-r', capture, '-n', '-d', `tcp.port==${port},http`,
                  '-o', 'tcp.desegment_tcp_streams:TRUE',
                  '-o', `http.desegment_body:${bodies ? 'TRUE' : 'FALSE'}`,
                  '-Y', filter, '-T', 'json'];
    for (const f of fields) {
        args.push('-e', f);
    }
    const out = execFileSync('tshark', args,
                             {maxBuffer: 1 << 30, stdio: ['ignore', 'pipe',
                                                         'ignore']});
    return JSON.parse(out.toString('utf8') || '[]')
        .map((p) => p._source.layers);
}

/* The requests of the capture, read with bodies reassembled ("bodies")
 * or from their headers alone: a map from frame number to {stream, frame,
 * method, path}. */
function requests(capture, port, bodies) {
    const found = new Map();
    for (const p of tshark(capture, port, 'http.request',
                           ['frame.number', 'tcp.stream',
                            'http.request.method', 'http.request.uri'],
                           bodies)) {
        found.set(p['frame.number'][0], {
            stream: p['tcp.stream'][0],
            frame: Number(p['frame.number'][0]),
            method: p['http.request.method'][0],
            path: p['http.request.uri'][0],
        });
    }
    return found;
}

function main(argv) {
    if (argv.length !== 2) {
        process.stderr.write('usage: from-pcap.js CAPTURE PORT\n');
        return 2;
    }
    const [capture, port] = argv;
    /* An answer names its request when tshark saw that request whole.  A
     * request whose body the controller refused before reading it (413)
     * never completes: such an answer gets the last request of its TCP
     * stream before it, as read from the headers alone.  (Reading every
     * request so is no way either: after a body that spans segments,
     * tshark takes the next request for more of it.) */
    const whole = requests(capture, port, true);
    const headers = requests(capture, port, false);
    const used = new Set();
    for (const p of tshark(capture, port, 'http.response',
                           ['frame.number', 'tcp.stream', 'http.request_in',
                            'http.response.code', 'http.content_type',
                            'http.file_data'], true)) {
        const status = Number(p['http.response.code'][0]);
        /* "100 Continue" and the like precede the answer: not one. */
        if (status < 200) {
            continue;
        }
        const stream = p['tcp.stream'][0];
        const frame = Number(p['frame.number'][0]);
        let req = whole.get((p['http.request_in'] || [])[0]);
        if (!req) {
            req = [...headers.values()]
                .filter((r) => r.stream === stream && r.frame < frame
                        && !used.has(r.frame))
                .pop();
        }
        if (!req) {
            process.stderr.write(`from-pcap.js: ${capture}: the answer in `
                                 + `frame ${frame} has no request\n`);
            return 1;
        }
        used.add(req.frame);
        process.stdout.write(`${JSON.stringify({
            method: req.method,
            path: req.path,
            status,
            content_type: (p['http.content_type'] || [''])[0],
            body: (p['http.file_data'] || [''])[0],
        })}\n`);
    }
    return 0;
}

process.exitCode = main(process.argv.slice(2));
