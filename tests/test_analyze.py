"""Text analysis shared by search and the site: what a chat line says, without whom it was addressed to."""

from chendian.summarize.text.analyze import unaddressed


def test_unaddressed_drops_only_the_mentions_that_say_whom_a_line_answers():
    assert unaddressed("@成员093 要看业务场景，退款不单独记账") == "要看业务场景，退款不单独记账"
    assert unaddressed("@某人，我们团队也行") == "我们团队也行"
    assert unaddressed("按规定比例代扣社保。@某人?@成员062?@成员060?") == "按规定比例代扣社保。"
    assert unaddressed("@成员088?@成员132某某钱包?这个通道靠谱吗\n@成员088") == "这个通道靠谱吗"
    # inside a sentence a mention says something; a bare address is kept unless asked not to
    assert unaddressed("这个找大师要@成员054") == "这个找大师要@成员054"
    assert unaddressed("邮件发到 chenjing@example.com 就行") == "邮件发到 chenjing@example.com 就行"
    assert unaddressed("@某人?") == "@某人?" and unaddressed("@某人?", keep_bare=False) == ""
