<project xmlns="com.autoesl.autopilot.project" name="myproject_prj" top="myproject">
  <solutions>
    <solution name="solution1" status="active"/>
  </solutions>
</project>
