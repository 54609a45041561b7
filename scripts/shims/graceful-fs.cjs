// Bundling shim: proper-lockfile only needs a handful of plain fs calls on one lock
// directory; graceful-fs's global fs patching (and its EMFILE queue) costs start-up time on
// every run for nothing here.
module.exports = require('fs');
