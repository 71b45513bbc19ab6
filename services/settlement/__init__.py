"""Settlement service: the transactional API an HIS calls during a visit."""
