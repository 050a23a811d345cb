//! The kinds of group a node runs, by group id.

use tidemark_storage::ShardId;

use crate::raft::{GroupId, META_GROUP, RULER_GROUP, group_shard};

/// What a group is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupKind {
    /// The meta group: the cluster map.
    Meta,
    /// The group of one shard.
    Shard(ShardId),
    /// The ruler group: rule groups, alert state and the notification outbox (its state
    /// machine arrives with the ruler; no node starts it yet).
    Ruler,
}

impl GroupKind {
    /// The kind of group `id`.
    pub fn of(id: GroupId) -> GroupKind {
        match id {
            META_GROUP => GroupKind::Meta,
            RULER_GROUP => GroupKind::Ruler,
            // Every other id is a shard's: ids above the shard id space are refused by
            // `group_shard`, and no group has one.
            _ => group_shard(id).map_or(GroupKind::Ruler, GroupKind::Shard),
        }
    }

    /// The shard, for a shard's group.
    pub fn shard(self) -> Option<ShardId> {
        match self {
            GroupKind::Shard(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::shard_group;

    #[test]
    fn ids_map_to_kinds_and_back() {
        assert_eq!(GroupKind::of(META_GROUP), GroupKind::Meta);
        assert_eq!(GroupKind::of(RULER_GROUP), GroupKind::Ruler);
        for shard in [0, 1, 1023, ShardId::MAX] {
            assert_eq!(GroupKind::of(shard_group(shard)), GroupKind::Shard(shard));
        }
        assert_eq!(GroupKind::of(shard_group(7)).shard(), Some(7));
        assert_eq!(GroupKind::Ruler.shard(), None);
    }
}
