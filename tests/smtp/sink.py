"""An SMTP server on loopback for the end-to-end tests (aiosmtpd): every message it accepts is
written, decoded, as one JSON file (to, from, subject, text, html) into the directory given.
Prints "ready" once it accepts connections; runs until killed.

    python3 tests/smtp/sink.py PORT DIR
"""
import email
import email.policy
import itertools
import json
import os
import signal
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        parts = {"text/plain": None, "text/html": None}
        for part in message.walk():
            if part.get_content_type() in parts and parts[part.get_content_type()] is None:
                parts[part.get_content_type()] = part.get_content()
        record = {
            "to": envelope.rcpt_tos,
            "from": envelope.mail_from,
            "subject": str(message["subject"]),
            "text": parts["text/plain"],
            "html": parts["text/html"],
        }
        # Unique across restarts of the sink on one directory, in the order received.
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self.counter):06d}.json"
        path = os.path.join(self.directory, name)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 Message accepted"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (controller.stop(), sys.exit(0)))
    signal.pause()


if __name__ == "__main__":
    main()
