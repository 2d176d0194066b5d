"""moto server with two emulator-only fixes for costs that grow with the emulator's data.

moto 5.2's DynamoDB `TransactWriteItems` deep-copies the *whole table* once for every item in the
transaction, so it can roll back on failure. A 100-item transaction on a table holding 20,000
records copies two million records, and the emulator slows down as its data grows until calls
time out (found by `drill erp`: after a few thousand events, every SQS and DynamoDB call stalled
behind the GIL). This launcher keeps moto's semantics (all or nothing, the same errors) and backs
up only the items the transaction names.

SQS computes the queue's approximate counts (a pass over every message, reading the clock for
each) whenever any attribute is read: for every message sent, and for every message received (the
retention check). Receiving from a backlog of 10,000 costs 10,000 x 10,000 steps. Here the
retention check reads the retention period alone, the counts and the visible list read the clock
once per pass, and a delete compares receipt handles without building lists.

moto serves requests on threads and does not isolate them: a transaction checks and writes item
by item, and rolls back by restoring what it saw first, so a transaction running beside another
can undo the other's committed writes (found by `drill webhooks`: order-line records and the stock
records summing them drifted apart by a line's quantity on 7 of 101 SKUs). DynamoDB makes every
call atomic and transactions serialisable; here every DynamoDB call runs under one lock, which
gives that and costs nothing at the emulator's speed (one Python thread runs at a time anyway).

moto's DeleteMessage also rebuilds the queue's message list without holding the lock SendMessage
appends under, so a message sent during a delete can vanish (a race, more likely the longer the
list). The delete here holds that lock.

Measured (`drill erp`, and a 100-item transaction on a 5,000-item table: 15 s before, 23 ms
after). Neither changes anything in Stockbridge, only how fast the local stand-in for AWS answers.
Started by infra/local/stack.sh and infra/test.sh.
"""

import copy
import sys
import threading

from moto.core.utils import unix_time
from moto.dynamodb import models
from moto.dynamodb import responses as dynamodb_responses
from moto.sqs import models as sqs_models
from moto.dynamodb.models.table import Table


class _NoTableCopy:
    """`copy` as seen by moto's DynamoDB backend: tables are not copied, everything else is."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


_original = models.DynamoDBBackend.transact_write_items


def _key_of(backend, op_type, op):
    table = backend.get_table(op["TableName"])
    if op_type == "Put":
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op["Key"]


def transact_write_items(self, transact_items):
    backup = []
    for item in transact_items:
        try:
            op_type, op = next(iter(item.items()))
            key = _key_of(self, op_type, op)
            current = self.get_item(op["TableName"], key)
        except Exception:  # moto's own call below reports the error the same way
            continue
        if op_type != "ConditionCheck":
            backup.append((op["TableName"], key, copy.deepcopy(current)))
    try:
        return _original(self, transact_items)
    except Exception:
        for table_name, key, before in reversed(backup):
            table = self.get_table(table_name)
            if before is None:
                self.delete_item(table_name, key)
            elif table.range_key_attr is not None:
                table.items[before.hash_key][before.range_key] = before
            else:
                table.items[before.hash_key] = before
        raise


def is_message_valid_based_on_retention_period(self, queue_name, message):
    retention = int(self.get_queue(queue_name).message_retention_period)
    return retention + message.sent_timestamp / 1000 > unix_time()


def _now_ms():
    return unix_time() * 1000


def _visible_messages(self):
    now = _now_ms()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _count(predicate):
    def count(self):
        now = _now_ms()
        return sum(1 for m in self._messages if predicate(m, now))

    return property(count)


def _delete_message(self, receipt_handle):
    if receipt_handle in self.deleted_messages:
        return

    def had(m):
        return m.receipt_handle == receipt_handle or receipt_handle in m._old_receipt_handles

    # Under the lock SendMessage appends with: moto rebuilds the list without it, so a message
    # sent while another is deleted could vanish (found by `drill erp`: 15 of 10,000 events).
    with self._messages_lock:
        found = [m for m in self._messages if had(m)]
        if not found:
            raise sqs_models.ReceiptHandleIsInvalid()
        for m in found:
            self.pending_messages.discard(m)
            self.deleted_messages.update(m.all_receipt_handles)
        self._messages = [m for m in self._messages if not had(m)]


sqs_models.Queue.messages = property(_visible_messages)
sqs_models.Queue.approximate_number_of_messages = property(lambda self: len(self.messages))
sqs_models.Queue.approximate_number_of_messages_delayed = _count(
    lambda m, now: now < m.delayed_until
)
sqs_models.Queue.approximate_number_of_messages_not_visible = _count(
    lambda m, now: not now > m.visible_at
)
sqs_models.Queue.delete_message = _delete_message

_dynamodb_lock = threading.RLock()
_dynamodb_call_action = dynamodb_responses.DynamoHandler.call_action


def _serialised_call_action(self):
    with _dynamodb_lock:
        return _dynamodb_call_action(self)


dynamodb_responses.DynamoHandler.call_action = _serialised_call_action
models.copy = _NoTableCopy()
sqs_models.SQSBackend.is_message_valid_based_on_retention_period = (
    is_message_valid_based_on_retention_period
)
models.DynamoDBBackend.transact_write_items = transact_write_items

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
