from neutrino.identity.passwords import hash_password, verify_password


def test_hash_verifies_only_the_right_password():
    stored = hash_password("correct horse")
    assert "correct horse" not in stored and stored.startswith("scrypt$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert not verify_password("", stored)


def test_salted_so_equal_passwords_differ():
    assert hash_password("same") != hash_password("same")


def test_broken_or_missing_hash_never_verifies():
    assert not verify_password("x", None)
    assert not verify_password("x", "")
    assert not verify_password("x", "md5$abc")
    assert not verify_password("x", "scrypt$a$b$c$d$e")
