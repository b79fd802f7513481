//! A filesystem that forgets, for power-cut tests (after Jepsen's lazyfs).
//!
//! Everything lives in memory. A file's bytes become durable only when the
//! file is fsync-ed; the names in a folder only when the folder is fsync-ed,
//! as POSIX promises and no more. [`LazyFs::cut`] is the power cut: from
//! that instant every request fails with EIO (so nothing the program does
//! afterwards can count), and [`LazyFs::remount`] brings back only what was
//! made durable, under a fresh mount, so no page the kernel cached survives
//! either.
//!
//! Mounting needs /dev/fuse and root (or fusermount); [`LazyFs::mount`]
//! says why it could not.

use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    LockOwner, MountOption, OpenFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// Nothing is cached by the kernel: every size and name is asked afresh.
const TTL: Duration = Duration::ZERO;

#[derive(Default)]
struct FileBytes {
    data: Vec<u8>,
    synced: Vec<u8>,
    /// Ranges written since the last fsync: all an fsync has to copy.
    dirty: Vec<Range<usize>>,
}

enum Body {
    File(FileBytes),
    Folder {
        names: BTreeMap<OsString, u64>,
        synced: BTreeMap<OsString, u64>,
    },
}

struct Node {
    body: Body,
    perm: u16,
    uid: u32,
    gid: u32,
}

struct State {
    nodes: HashMap<u64, Node>,
    next_ino: u64,
    /// Set by a cut: the machine is off until the remount.
    off: bool,
    /// fsyncs of files and folders, to show a test synced anything at all.
    syncs: u64,
}

/// The filesystem's contents, shared by each mount of it.
#[derive(Clone)]
pub struct LazyFs {
    state: Arc<Mutex<State>>,
    mountpoint: PathBuf,
}

/// One mount; dropping it unmounts.
pub struct Mounted {
    _session: fuser::BackgroundSession,
}

impl LazyFs {
    /// An empty filesystem, mounted at `mountpoint` (an existing folder).
    pub fn mount(mountpoint: &Path) -> std::io::Result<(LazyFs, Mounted)> {
        let root = Node {
            body: Body::Folder {
                names: BTreeMap::new(),
                synced: BTreeMap::new(),
            },
            perm: 0o755,
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
        };
        let fs = LazyFs {
            state: Arc::new(Mutex::new(State {
                nodes: HashMap::from([(INodeNo::ROOT.0, root)]),
                next_ino: INodeNo::ROOT.0 + 1,
                off: false,
                syncs: 0,
            })),
            mountpoint: mountpoint.to_path_buf(),
        };
        let mounted = fs.session()?;
        Ok((fs, mounted))
    }

    fn session(&self) -> std::io::Result<Mounted> {
        let mut config = Config::default();
        config.mount_options = vec![MountOption::FSName("lazyfs".into()), MountOption::NoAtime];
        let session = fuser::spawn_mount(Door(self.clone()), &self.mountpoint, &config)?;
        Ok(Mounted { _session: session })
    }

    /// The power goes off: every request fails from now on.
    pub fn cut(&self) {
        self.lock().off = true;
    }

    /// Power comes back: `old` is unmounted, everything not made durable is
    /// forgotten, and the filesystem is mounted afresh.
    pub fn remount(&self, old: Mounted) -> std::io::Result<Mounted> {
        drop(old);
        {
            let mut state = self.lock();
            for node in state.nodes.values_mut() {
                match &mut node.body {
                    Body::File(bytes) => {
                        bytes.data = bytes.synced.clone();
                        bytes.dirty.clear();
                    }
                    Body::Folder { names, synced } => *names = synced.clone(),
                }
            }
            state.off = false;
        }
        self.session()
    }

    /// How many fsyncs the filesystem has served.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl FileBytes {
    fn write(&mut self, offset: usize, bytes: &[u8]) {
        let end = offset + bytes.len();
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[offset..end].copy_from_slice(bytes);
        self.dirty.push(offset..end);
    }

    fn sync(&mut self) {
        self.synced.resize(self.data.len(), 0);
        for range in self.dirty.drain(..) {
            let end = range.end.min(self.data.len());
            if range.start < end {
                self.synced[range.start..end].copy_from_slice(&self.data[range.start..end]);
            }
        }
    }
}

impl Node {
    fn attr(&self, ino: u64) -> FileAttr {
        let (kind, size, nlink) = match &self.body {
            Body::File(bytes) => (FileType::RegularFile, bytes.data.len() as u64, 1),
            Body::Folder { .. } => (FileType::Directory, 0, 2),
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: SystemTime::UNIX_EPOCH,
            mtime: SystemTime::UNIX_EPOCH,
            ctime: SystemTime::UNIX_EPOCH,
            crtime: SystemTime::UNIX_EPOCH,
            kind,
            perm: self.perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}

/// The kernel's side of a [`LazyFs`].
struct Door(LazyFs);

impl Door {
    /// The state while the power is on; EIO once it is cut.
    fn on(&self) -> Result<MutexGuard<'_, State>, Errno> {
        let state = self.0.lock();
        if state.off {
            Err(Errno::EIO)
        } else {
            Ok(state)
        }
    }

    fn node(state: &mut State, ino: INodeNo) -> Result<&mut Node, Errno> {
        state.nodes.get_mut(&ino.0).ok_or(Errno::ENOENT)
    }

    fn names(state: &mut State, ino: INodeNo) -> Result<&mut BTreeMap<OsString, u64>, Errno> {
        match &mut Self::node(state, ino)?.body {
            Body::Folder { names, .. } => Ok(names),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn bytes(state: &mut State, ino: INodeNo) -> Result<&mut FileBytes, Errno> {
        match &mut Self::node(state, ino)?.body {
            Body::File(bytes) => Ok(bytes),
            Body::Folder { .. } => Err(Errno::EISDIR),
        }
    }

    fn lookup_attr(&self, parent: INodeNo, name: &OsStr) -> Result<FileAttr, Errno> {
        let mut state = self.on()?;
        let ino = *Self::names(&mut state, parent)?
            .get(name)
            .ok_or(Errno::ENOENT)?;
        Ok(Self::node(&mut state, INodeNo(ino))?.attr(ino))
    }

    fn create_file(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> Result<FileAttr, Errno> {
        let mut state = self.on()?;
        if let Some(&ino) = Self::names(&mut state, parent)?.get(name) {
            if flags & rustix::fs::OFlags::EXCL.bits() as i32 != 0 {
                return Err(Errno::EEXIST);
            }
            return Ok(Self::node(&mut state, INodeNo(ino))?.attr(ino));
        }
        let ino = state.next_ino;
        state.next_ino += 1;
        let node = Node {
            body: Body::File(FileBytes::default()),
            perm: (mode & 0o7777) as u16,
            uid: req.uid(),
            gid: req.gid(),
        };
        let attr = node.attr(ino);
        state.nodes.insert(ino, node);
        Self::names(&mut state, parent)?.insert(name.to_owned(), ino);
        Ok(attr)
    }
}

/// Answers a reply with a result: the value, or its errno.
macro_rules! answer {
    ($reply:expr, $result:expr, $ok:expr) => {
        match $result {
            Ok(value) => $ok($reply, value),
            Err(errno) => $reply.error(errno),
        }
    };
}

impl Filesystem for Door {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        answer!(reply, self.lookup_attr(parent, name), |r: ReplyEntry, a| r
            .entry(&TTL, &a, Generation(0)));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let result = self
            .on()
            .and_then(|mut s| Self::node(&mut s, ino).map(|n| n.attr(ino.0)));
        answer!(reply, result, |r: ReplyAttr, a| r.attr(&TTL, &a));
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let result = self.on().and_then(|mut state| {
            if let Some(size) = size {
                Self::bytes(&mut state, ino)?.data.resize(size as usize, 0);
            }
            let node = Self::node(&mut state, ino)?;
            if let Some(mode) = mode {
                node.perm = (mode & 0o7777) as u16;
            }
            Ok(node.attr(ino.0))
        });
        answer!(reply, result, |r: ReplyAttr, a| r.attr(&TTL, &a));
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let result = self.create_file(req, parent, name, mode, flags);
        answer!(reply, result, |r: ReplyCreate, a| r.created(
            &TTL,
            &a,
            Generation(0),
            FileHandle(0),
            FopenFlags::empty()
        ));
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let result = self.on().and_then(|mut state| {
            Self::names(&mut state, parent)?
                .remove(name)
                .map(|_| ())
                .ok_or(Errno::ENOENT)
        });
        answer!(reply, result, |r: ReplyEmpty, ()| r.ok());
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let result = self.on().and_then(|mut state| {
            let data = &Self::bytes(&mut state, ino)?.data;
            let start = (offset as usize).min(data.len());
            let end = (start + size as usize).min(data.len());
            Ok(data[start..end].to_vec())
        });
        answer!(reply, result, |r: ReplyData, d: Vec<u8>| r.data(&d));
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let result = self.on().and_then(|mut state| {
            Self::bytes(&mut state, ino)?.write(offset as usize, data);
            Ok(data.len() as u32)
        });
        answer!(reply, result, |r: ReplyWrite, n| r.written(n));
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        answer!(reply, self.on().map(drop), |r: ReplyEmpty, ()| r.ok());
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let result = self.on().and_then(|mut state| {
            Self::bytes(&mut state, ino)?.sync();
            state.syncs += 1;
            Ok(())
        });
        answer!(reply, result, |r: ReplyEmpty, ()| r.ok());
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let listed = self.on().and_then(|mut state| {
            let names = Self::names(&mut state, ino)?.clone();
            let mut entries = vec![
                (ino.0, FileType::Directory, OsString::from(".")),
                (INodeNo::ROOT.0, FileType::Directory, OsString::from("..")),
            ];
            for (name, child) in names {
                let kind = match state.nodes.get(&child).map(|n| &n.body) {
                    Some(Body::Folder { .. }) => FileType::Directory,
                    _ => FileType::RegularFile,
                };
                entries.push((child, kind, name));
            }
            Ok(entries)
        });
        match listed {
            Ok(entries) => {
                for (i, (child, kind, name)) in
                    entries.into_iter().enumerate().skip(offset as usize)
                {
                    if reply.add(INodeNo(child), (i + 1) as u64, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(errno) => reply.error(errno),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let result = self.on().and_then(|mut state| {
            match &mut Self::node(&mut state, ino)?.body {
                Body::Folder { names, synced } => *synced = names.clone(),
                Body::File(_) => return Err(Errno::ENOTDIR),
            }
            state.syncs += 1;
            Ok(())
        });
        answer!(reply, result, |r: ReplyEmpty, ()| r.ok());
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        answer!(reply, self.on().map(drop), |r: ReplyEmpty, ()| r.ok());
    }
}
