from django.core.management.base import BaseCommand, CommandError

from backoffice.journal.services import journal_verify_and_record


class Command(BaseCommand):
    help = ("Verify the journal: every row's keyed hash and chain link, and every chain against the latest "
            "signed checkpoint (deleted tails and chains). Exits non-zero naming each broken case. "
            "--incremental checks only what arrived since the latest checkpoint and signs the next one "
            "(what the scheduled task does).")

    def add_arguments(self, parser):
        parser.add_argument("--incremental", action="store_true",
                            help="check rows since the latest checkpoint, then sign a new checkpoint")

    def handle(self, *args, **options):
        mode = "incremental" if options["incremental"] else "full"
        result = journal_verify_and_record(mode=mode, trigger="command")
        against = f" (checkpoint #{result.checkpoint_seq})" if result.checkpoint_seq else ""
        if not result.intact:
            for problem in result.problems:
                self.stderr.write(f"BROKEN {problem['text']}")
            raise CommandError(f"{len(result.problems)} broken chain(s) or checkpoint(s) among "
                               f"{result.rows_total} journal rows{against}")
        self.stdout.write(self.style.SUCCESS(
            f"Journal intact: {result.rows_checked} rows verified ({mode}){against}."))
