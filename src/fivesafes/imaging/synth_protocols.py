"""What the synthetic archive's studies look like at three made-up sites: their scanners, how
each spells body parts and descriptions, and which series a protocol acquires.

Every text is planted with what it says, so the ground truth never depends on the rules that
the index applies: a series description comes with the contrast it signals (``"yes"``,
``"no"``, or ``""`` for nothing), a study comes with its true body part. The spellings are
deliberately messy (upper and lower case, German and vendor abbreviations, missing
BodyPartExamined, descriptions that say nothing), as in a real national archive; a few are
meant to be unmapped (``TEMPORAL BONES``) so that ``fivesafes node imaging unmapped`` has
something to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_IMAGE = "1.2.840.10008.5.1.4.1.1.1.1"
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
MG_IMAGE = "1.2.840.10008.5.1.4.1.1.1.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"

Text = tuple[str, str]  # a description and the contrast it signals: "yes", "no" or ""


@dataclass(frozen=True)
class Scanner:
    manufacturer: str
    model: str
    agent: str = "never"  # always | partial | never: who writes ContrastBolusAgent after contrast
    agents: tuple[str, ...] = ()
    routes: tuple[str | None, ...] = (None,)
    private: tuple[tuple[int, str, str], ...] = ()  # (tag, VR, value), creator first


@dataclass(frozen=True)
class Site:
    name: str
    patient_id: str  # how the site writes a hospital number: a format of the number
    layout: str  # nested | pacs | dated: how its export lays files out
    bare_share: float  # series written without preamble and file meta (old exports)
    scanners: dict[str, Scanner]
    no_agent: str | None = None  # what it writes as agent on a plain series (None: nothing)


_SIEMENS_PRIVATE = (
    (0x00190010, "LO", "FIVESAFES SYNTH CT 1"),
    (0x00191001, "LO", "B31f"),
    (0x00191002, "DS", "0.6"),
)
_GE_PRIVATE = ((0x00430010, "LO", "FIVESAFES SYNTH GE-LIKE"), (0x00431001, "LO", "ROUTINE"))
_PHILIPS_PRIVATE = ((0x20050010, "LO", "FIVESAFES SYNTH PMS-LIKE"), (0x20051001, "LO", "B"))

SITES: dict[str, Site] = {
    "north": Site(
        "north",
        "SYN{:08d}",
        "nested",
        0.0,
        {
            "CT": Scanner(
                "SIEMENS",
                "SOMATOM Definition AS",
                "always",
                ("Omnipaque 350", "IOHEXOL 300", "OMNIPAQUE"),
                ("IV", "Intravenous"),
                _SIEMENS_PRIVATE,
            ),
            "MR": Scanner(
                "SIEMENS",
                "MAGNETOM Skyra",
                "always",
                ("Gadovist 1.0", "GADOBUTROL"),
                ("IV",),
                _SIEMENS_PRIVATE,
            ),
            "CR": Scanner("SIEMENS", "Ysio Max"),
            "US": Scanner("SIEMENS", "ACUSON S2000"),
            "MG": Scanner("SIEMENS", "MAMMOMAT Revelation"),
        },
    ),
    "south": Site(
        "south",
        "SYN-{:08d}",
        "pacs",
        0.0,
        {
            "CT": Scanner(
                "GE MEDICAL SYSTEMS",
                "Revolution CT",
                "partial",
                ("ISOVUE-370", "Isovue 300"),
                (None, "IV"),
                _GE_PRIVATE,
            ),
            "MR": Scanner(
                "GE MEDICAL SYSTEMS",
                "SIGNA Explorer",
                "partial",
                ("DOTAREM",),
                (None,),
                _GE_PRIVATE,
            ),
            "CR": Scanner("GE Healthcare", "Definium 656"),
            "US": Scanner("GE Healthcare", "LOGIQ E10"),
            "MG": Scanner("GE MEDICAL SYSTEMS", "Senographe Pristina"),
        },
    ),
    "west": Site(
        "west",
        "syn {:08d}",
        "dated",
        0.1,
        {
            "CT": Scanner("Philips", "Ingenuity CT", private=_PHILIPS_PRIVATE),
            "MR": Scanner("Philips Medical Systems", "Ingenia", private=_PHILIPS_PRIVATE),
            "DX": Scanner("Philips Medical Systems", "DigitalDiagnost"),
            "US": Scanner("Philips Medical Systems", "EPIQ 7G"),
            "MG": Scanner("HOLOGIC, Inc.", "Selenia Dimensions"),
        },
        no_agent="NONE",
    ),
}


@dataclass(frozen=True)
class SeriesPlan:
    """One series a protocol acquires."""

    texts: tuple[Text, ...]  # descriptions to choose from
    when: str = "always"  # always, or only in a study with contrast ("contrast")
    after_agent: bool = False  # in a study with contrast, acquired after the agent was given
    instances: tuple[int, int] = (1, 1)
    image_type: str = "ORIGINAL\\PRIMARY\\AXIAL"
    secondary: bool = False  # a secondary capture (a dose report): BurnedInAnnotation YES
    modality: str | None = None  # other than the study's (a dose report's OT)
    share: float = 1.0  # how often the protocol includes it


@dataclass(frozen=True)
class Protocol:
    """A kind of study at one site."""

    kind: str
    modality: str
    body_part: str | None  # the truth: the controlled term this study's texts mean
    study: tuple[str, ...]  # StudyDescription spellings
    body_part_examined: tuple[str | None, ...]  # BodyPartExamined spellings (None: absent)
    protocol_name: tuple[str, ...]
    series: tuple[SeriesPlan, ...]
    contrast_share: float = 0.0  # how often the study is done with contrast
    burned_in: float = 0.0  # share of images marked BurnedInAnnotation YES (ultrasound)
    sex: str | None = None  # F: only for women
    sites: tuple[str, ...] = field(default=("north", "south", "west"))


def _scout(*texts: str) -> SeriesPlan:
    return SeriesPlan(
        tuple((t, "") for t in texts), instances=(1, 2), image_type="ORIGINAL\\PRIMARY\\LOCALIZER"
    )


def _dose(text: str, modality: str | None) -> SeriesPlan:
    return SeriesPlan(
        ((text, ""),),
        image_type="DERIVED\\SECONDARY\\OTHER",
        secondary=True,
        modality=modality,
        share=0.6,
    )


CT_CHEST: dict[str, Protocol] = {
    "north": Protocol(
        "ct_chest",
        "CT",
        "CHEST",
        ("CT Thorax", "CT THORAX", "Thorax^01_Thorax_Routine (Adult)"),
        ("CHEST", "THORAX", "CHEST"),
        ("Thorax_Routine", "THORAX ROUTINE"),
        (
            _scout("Topogram  0.6  T20f"),
            SeriesPlan(
                (("Thorax  1.0  B31f", ""), ("Thorax nativ 5.0 B30f", "no")),
                instances=(3, 6),
                share=0.7,
            ),
            SeriesPlan(
                (
                    ("Thorax C+  1.0  B31f", "yes"),
                    ("Arterial  1.0  Br40", "yes"),
                    ("Thorax KM 3.0 Br40", "yes"),
                ),
                "contrast",
                True,
                (3, 6),
            ),
            SeriesPlan(
                (("LUNG 1.0 B70f", ""), ("Lunge  1.0  B70f", "")),
                after_agent=True,
                instances=(3, 5),
            ),
            _dose("Patient Protocol", None),
        ),
        contrast_share=0.6,
    ),
    "south": Protocol(
        "ct_chest",
        "CT",
        "CHEST",
        ("CT CHEST", "CHEST^ROUTINE", "CT CHEST W/WO"),
        ("CHEST", "Chest", None),
        ("5.1 CHEST ROUTINE", "CHEST"),
        (
            _scout("Scout"),
            SeriesPlan(
                (("AX CHEST WO", "no"), ("CHEST NON CON 2.5MM", "no"), ("5mm Axial", "")),
                instances=(3, 6),
                share=0.8,
            ),
            SeriesPlan(
                (("CHEST W CONTRAST 2.5MM", "yes"), ("AX 2.5 POST", "yes"), ("5mm Axial", "")),
                "contrast",
                True,
                (3, 6),
            ),
            SeriesPlan(
                (("LUNG 1.25MM", ""), ("Lung Recon", "")),
                after_agent=True,
                instances=(3, 5),
                share=0.7,
            ),
            _dose("Dose Report", "OT"),
        ),
        contrast_share=0.55,
    ),
    "west": Protocol(
        "ct_chest",
        "CT",
        "CHEST",
        ("CT Chest", "CT CHEST/LUNGS", "Chest_Routine"),
        ("LUNG", "THORAX", None, "THX"),
        ("Chest/Routine", "Chest"),
        (
            _scout("SURVIEW"),
            SeriesPlan((("Chest Plain 3mm", "no"), ("Chest 3mm", "")), instances=(3, 6), share=0.7),
            SeriesPlan(
                (("Chest Portal Venous 3mm", "yes"), ("Chest C+ 3mm", "yes"), ("CTA Chest", "yes")),
                "contrast",
                True,
                (3, 6),
            ),
            SeriesPlan(
                (("Lung 1mm", ""), ("Lungs HR", "")), after_agent=True, instances=(3, 5), share=0.6
            ),
            _dose("Dose Info", "OT"),
        ),
        contrast_share=0.5,
    ),
}

OTHER: dict[str, tuple[Protocol, ...]] = {
    "ct_head": (
        Protocol(
            "ct_head",
            "CT",
            "HEAD",
            ("CT HEAD", "CT Kopf", "Head^Routine"),
            ("HEAD", "BRAIN", None),
            ("Head_Routine",),
            (
                _scout("Topogram"),
                SeriesPlan(
                    (("Head 5.0 H30s", ""), ("HEAD WO 5MM", "no"), ("Brain 5mm", "")),
                    instances=(3, 6),
                ),
            ),
        ),
    ),
    "ct_abdomen_pelvis": (
        Protocol(
            "ct_abdomen_pelvis",
            "CT",
            "ABDOMENPELVIS",
            ("CT ABDOMEN PELVIS W", "CT ABDO/PELVIS", "Abdomen^Pelvis (Adult)"),
            ("ABDOMENPELVIS", "ABD_PELVIS", None),
            ("ABD PELVIS ROUTINE", "Abdomen Pelvis"),
            (
                _scout("Scout"),
                SeriesPlan(
                    (
                        ("Portal venous 3mm", "yes"),
                        ("ABD PEL C+ 2.5", "yes"),
                        ("Abdomen Pelvis Post Contrast", "yes"),
                    ),
                    "contrast",
                    True,
                    (3, 6),
                ),
                _dose("Dose Report", "OT"),
            ),
            contrast_share=1.0,
        ),
    ),
    "ct_temporal_bones": (
        Protocol(
            "ct_temporal_bones",
            "CT",
            None,
            ("CT TEMPORAL BONES",),
            (None, "OTHER"),
            ("Temporal Bones",),
            (SeriesPlan((("IAC 0.6mm", ""), ("Petrous 0.6", "")), instances=(3, 5)),),
            sites=("west",),
        ),
    ),
    "mr_head": (
        Protocol(
            "mr_head",
            "MR",
            "HEAD",
            ("MRI HEAD", "MR Brain", "Kopf^Routine"),
            ("HEAD", "BRAIN", "Head"),
            ("Head_Routine", "BRAIN ROUTINE"),
            (
                SeriesPlan(
                    (("localizer", ""), ("3 Plane Loc", ""), ("Survey", "")),
                    instances=(1, 3),
                    image_type="ORIGINAL\\PRIMARY\\M\\ND",
                ),
                SeriesPlan(
                    (("t2_tse_tra", ""), ("T2 FLAIR AX", ""), ("DWI", "")),
                    instances=(3, 5),
                    image_type="ORIGINAL\\PRIMARY\\M\\ND",
                ),
                SeriesPlan(
                    (("t1_mprage_sag_POST", "yes"), ("T1 SE +C", "yes"), ("AX T1 POST GAD", "yes")),
                    "contrast",
                    True,
                    (3, 5),
                    "ORIGINAL\\PRIMARY\\M\\ND",
                ),
            ),
            contrast_share=0.4,
        ),
    ),
    "mr_spine": (
        Protocol(
            "mr_spine",
            "MR",
            "SPINE",
            ("MR L-SPINE", "MRI Lumbar Spine", "LWS"),
            ("LSPINE", "L-SPINE", "SPINE", None),
            ("Spine_Routine", "SAG T2 LUMBAR"),
            (
                SeriesPlan(
                    (("T2 SAG", ""), ("T1 SAG", ""), ("T2 AX", "")),
                    instances=(3, 5),
                    image_type="ORIGINAL\\PRIMARY\\M\\ND",
                ),
            ),
        ),
    ),
    "mr_knee": (
        Protocol(
            "mr_knee",
            "MR",
            "EXTREMITY",
            ("MR KNEE RIGHT", "MRI Knee", "Knie re"),
            ("KNEE", "Knee", None),
            ("Knee_Routine", "KNEE"),
            (
                SeriesPlan(
                    (("PD FS COR", ""), ("T1 COR", ""), ("PD SAG", "")),
                    instances=(3, 5),
                    image_type="ORIGINAL\\PRIMARY\\M\\ND",
                ),
            ),
        ),
    ),
    "us_abdomen": (
        Protocol(
            "us_abdomen",
            "US",
            "ABDOMEN",
            ("US ABDOMEN", "US Liver", "Ultrasound Abdo"),
            ("ABDOMEN", None, "Abdomen"),
            ("Abdomen", "LIVER"),
            (SeriesPlan((("", ""),), instances=(2, 5), image_type="ORIGINAL\\PRIMARY\\ABDOMINAL"),),
            burned_in=0.8,
        ),
    ),
    "us_neck": (
        Protocol(
            "us_neck",
            "US",
            "NECK",
            ("US THYROID", "US Neck", "Ultrasound Thyroid"),
            ("NECK", "THYROID", None),
            ("Thyroid", "NECK"),
            (
                SeriesPlan(
                    (("", ""),), instances=(2, 4), image_type="ORIGINAL\\PRIMARY\\SMALL PARTS"
                ),
            ),
            burned_in=0.9,
        ),
    ),
    "mg": (
        Protocol(
            "mg",
            "MG",
            "BREAST",
            ("MAMMOGRAM BILATERAL", "Screening Mammography", "MG Screening Bilat"),
            ("BREAST", "Breast"),
            ("Screening", "MAMMO SCREEN"),
            (
                SeriesPlan(
                    (("L CC", ""), ("R MLO", ""), ("Bilateral", "")),
                    instances=(4, 4),
                    image_type="ORIGINAL\\PRIMARY",
                ),
            ),
            sex="F",
        ),
    ),
}
OTHER_WEIGHTS = {
    "ct_head": 14,
    "ct_abdomen_pelvis": 14,
    "ct_temporal_bones": 4,
    "mr_head": 16,
    "mr_spine": 10,
    "mr_knee": 10,
    "us_abdomen": 10,
    "us_neck": 6,
    "mg": 16,
}

CHEST_RADIOGRAPH = Protocol(
    "cr_chest",
    "CR",
    "CHEST",
    ("XR CHEST PA", "CXR", "Chest PA"),
    ("CHEST", "Chest", "THORAX"),
    ("Chest PA", "CHEST"),
    (
        SeriesPlan(
            (("PA", ""), ("Chest PA", ""), ("AP ERECT", "")),
            instances=(1, 2),
            image_type="ORIGINAL\\PRIMARY",
        ),
    ),
)
