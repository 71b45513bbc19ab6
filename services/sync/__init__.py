"""Live sync from hospital databases (HIS) into the platform: snapshot, binlog, dead letters."""
