// Throws while it loads: the runtime reports an Init error.
throw new Error('cannot start: missing configuration');
