"""The key cache's decisions, without SQL: when to read the erasure epoch, what an epoch change
drops, what may not be stored, and how long a secret stays in memory (ADR 0025)."""

from __future__ import annotations

from hub.erasure.key_cache import MISSING, NO_CACHE, CachePolicy, KeyCache
from hub.erasure.sealing import new_key

POLICY = CachePolicy(max_keys=3, max_age_s=600.0, batch_check_every_s=1.0)


def checked(cache: KeyCache, epoch: int, at: float = 0.0) -> KeyCache:
    cache.observe(cache.start_check(at), epoch)
    return cache


def test_outside_a_batch_every_call_reads_the_epoch_inside_one_only_when_it_is_old() -> None:
    cache = KeyCache(POLICY)
    assert cache.must_check(0.0, in_batch=True)  # nothing read yet: even a batch must look
    checked(cache, 0, at=10.0)
    assert cache.must_check(10.0, in_batch=False)  # a request, a message: exact, every time
    assert not cache.must_check(10.9, in_batch=True)
    assert cache.must_check(11.0, in_batch=True)  # a batch held (retrying) past the bound
    assert not KeyCache(NO_CACHE).must_check(0.0, in_batch=False)  # nothing kept: no epoch


def test_an_erasure_anywhere_drops_every_key_and_a_restored_store_does_too() -> None:
    cache = checked(KeyCache(POLICY), 4)
    key, other = new_key(), new_key()
    cache.put_key("9434765919", key, generation=cache.generation, now=0.0)
    cache.put_secret(other.key_id, other.secret, generation=cache.generation, now=0.0)
    assert not cache.observe(cache.start_check(1.0), 4)  # no erasure since: all kept
    assert cache.key("9434765919", 1.0) == key
    assert cache.secret(key.key_id, 1.0) == key.secret  # what was sealed with it opens
    assert cache.observe(cache.start_check(2.0), 5)
    assert cache.key("9434765919", 2.0) is None
    assert cache.secret(other.key_id, 2.0) is MISSING  # not only the erased person's
    cache.put_key("9434765919", key, generation=cache.generation, now=2.0)
    assert cache.observe(cache.start_check(3.0), 3)  # lower: another (restored) key store
    assert cache.sizes() == (0, 0)


def test_a_key_read_before_a_drop_is_not_stored_after_it() -> None:
    cache = checked(KeyCache(POLICY), 0)
    before = cache.generation  # a thread begins reading the store...
    checked(cache, 1)  # ...another learns of an erasure meanwhile
    cache.put_key("9434765919", new_key(), generation=before, now=0.0)
    cache.put_secret("k-1", b"s" * 32, generation=before, now=0.0)
    assert cache.sizes() == (0, 0)  # what it read may be the destroyed key
    cache.drop()  # this process shredded: the same
    assert cache.generation == before + 2


def test_an_older_epoch_read_that_returns_late_changes_nothing() -> None:
    cache = checked(KeyCache(POLICY), 7)
    slow, fast = cache.start_check(1.0), cache.start_check(2.0)
    assert cache.observe(fast, 8)
    key = new_key()
    cache.put_key("9434765919", key, generation=cache.generation, now=2.0)
    assert not cache.observe(slow, 7)  # began before the read already taken: says nothing new
    assert cache.epoch == 8
    assert cache.key("9434765919", 2.0) == key
    assert cache.must_check(2.9, in_batch=True) is False  # the bound runs from the newer read


def test_a_destroyed_key_is_remembered_as_destroyed() -> None:
    cache = checked(KeyCache(POLICY), 0)
    cache.put_secret("k-gone", None, generation=cache.generation, now=0.0)
    assert cache.secret("k-gone", 1.0) is None  # known destroyed: no query, nothing opens
    assert cache.secret("k-never-seen", 1.0) is MISSING  # ask the store


def test_memory_is_bounded_in_keys_and_in_time() -> None:
    cache = checked(KeyCache(POLICY), 0)
    keys = {f"urn:p|{i}": new_key() for i in range(4)}
    for i, (subject, key) in enumerate(keys.items()):
        cache.put_key(subject, key, generation=cache.generation, now=float(i))
        if i == 1:
            assert cache.key("urn:p|0", 1.5) is not None  # used: the least recent is now 1
    assert cache.key("urn:p|1", 4.0) is None  # the fourth pushed out the least recently used
    assert cache.key("urn:p|0", 4.0) is not None
    assert cache.sizes() == (3, 3)
    assert cache.key("urn:p|3", 602.9) is not None
    assert cache.key("urn:p|3", 603.0) is None  # read at 3: forgotten 600 s later, used or not
    assert cache.secret(keys["urn:p|3"].key_id, 603.0) is MISSING


def test_the_cache_turned_off_keeps_nothing() -> None:
    cache = KeyCache(NO_CACHE)
    cache.put_key("9434765919", new_key(), generation=cache.generation, now=0.0)
    cache.put_secret("k-1", b"s" * 32, generation=cache.generation, now=0.0)
    assert cache.sizes() == (0, 0)
