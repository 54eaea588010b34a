"""Text analysis shared by search and the site: what a chat line says, without whom it was addressed to."""

from chendian.summarize.text.analyze import unaddressed


def test_unaddressed_drops_only_the_mentions_that_say_whom_a_line_answers():
    assert unaddressed("@成员071 要看产品需求，待收不建账户") == "要看产品需求，待收不建账户"
    assert unaddressed("@某人，我们公司可以") == "我们公司可以"
    assert unaddressed("按标准阶梯缴纳个税。@某人?@成员062?@成员060?") == "按标准阶梯缴纳个税。"
    assert unaddressed("@成员053?@成员214平安付产品?这是哪家公司\n@成员053") == "这是哪家公司"
    # inside a sentence a mention says something; a bare address is kept unless asked not to
    assert unaddressed("这个找大师要@成员054") == "这个找大师要@成员054"
    assert unaddressed("邮件发到 chenjing@example.com 就行") == "邮件发到 chenjing@example.com 就行"
    assert unaddressed("@某人?") == "@某人?" and unaddressed("@某人?", keep_bare=False) == ""
